// Finished-job notices. imagechat/state/session.py's watcher calls window.__icNotify([...]) with the jobs of
// this user that just ended (and marks their conversations in the chat's list when they are not the one in
// view). While this tab is hidden, its title counts them ("(2) imagechat") until it is seen again, and a
// browser notification is raised if the user allowed them (window.__icAskNotify, from the user menu); clicking
// it opens the job's conversation.
(function () {
  var base = null;
  var count = 0;

  function seen() {
    if (base !== null) document.title = base;
    base = null;
    count = 0;
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden) seen(); });
  window.addEventListener("focus", seen);

  window.__icNotify = function (items) {
    items.forEach(function (it) {
      if (!document.hidden) return; // in view: the chat shows it, or its conversation is marked in the list
      if (base === null) base = document.title.replace(/^\(\d+\) /, "");
      count += 1;
      document.title = "(" + count + ") " + base;
      if ("Notification" in window && Notification.permission === "granted") {
        var n = new Notification(it.heading, { body: it.body, tag: it.job, icon: "/favicon.ico" });
        n.onclick = function () { window.focus(); window.location.assign(it.url); n.close(); };
      }
    });
  };

  window.__icAskNotify = function () {
    if (!("Notification" in window)) return "unsupported";
    if (Notification.permission === "default") Notification.requestPermission();
    return Notification.permission;
  };
})();
