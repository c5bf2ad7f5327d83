"""The image, download, share and ZIP export tests again, with every image's bytes in the object store
(IMAGE_STORE=s3 on the suite's own SeaweedFS, tests/support/seaweed.py): a representative subset, imported from
their modules and run here unchanged. Their helpers that write image_data directly are wrapped so the image moves
to the bucket right after; a test checks that every image here really is in the bucket.
"""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import exports as export_api
from imagechat.api import images as image_api
from imagechat.api import share as share_api
from imagechat.core import codec, library, storage
from imagechat.db import session_scope
from imagechat.models import Image, ImageData
from tests.integration import test_downloads as download_tests
from tests.integration import test_export as export_tests
from tests.integration import test_image_routes as image_route_tests
from tests.integration import test_sharing as sharing_tests
from tests.integration.test_downloads import (  # noqa: F401  (collected here again)
    test_a_deleted_image_is_not_downloadable,
    test_each_format_and_size_embeds_the_prompt_and_parameters,
    test_only_the_owner_can_download,
    test_the_original_in_its_stored_format_keeps_the_stored_pixels,
)
from tests.integration.test_export import (  # noqa: F401
    test_an_image_deleted_after_the_ticket_is_not_exported,
    test_names_stay_unique_when_ids_share_a_prefix_and_batches_keep_order,
    test_only_the_tickets_owner_can_download_it,
    test_zip_holds_every_image_with_metadata_and_valid_manifests,
)
from tests.integration.test_image_routes import (  # noqa: F401
    test_another_user_gets_404_not_the_image,
    test_downloads_in_three_formats,
    test_guessed_and_malformed_ids_get_404,
    test_logged_out_session_loses_access,
    test_owner_gets_full_image_with_immutable_caching,
    test_thumbnail_is_webp,
)
from tests.integration.test_sharing import (  # noqa: F401
    test_an_album_share_shows_only_that_album,
    test_caching_headers_and_revalidation,
    test_guessed_image_ids_under_a_token,
    test_image_variants,
    test_page_shows_image_and_counts_views,
    test_revoked_and_expired_links_answer_404_at_once,
)

# Their module-scoped fixtures, as they are (they store through library.add_images or the wrapped helpers).
users, library_of_two, two_users = download_tests.users, export_tests.library_of_two, sharing_tests.two_users


def _to_bucket(image_id) -> None:
    """Move one image written straight into image_data to the object store, as `storage migrate` would."""
    with session_scope() as s:
        image, payload = s.get(Image, image_id), s.get(ImageData, image_id)
        storage.get_store(storage.S3).put(image.id, codec.from_b64(payload.data_b64),
                                          codec.from_b64(payload.thumb_b64), mime=image.mime)
        image.storage = storage.S3
        s.delete(payload)


@pytest.fixture(scope="module", autouse=True)
def _every_image_in_the_bucket(s3_store_for_module):
    original_store, original_store_as = sharing_tests._store, export_tests._store_as

    def store(*args, **kwargs):
        image_id = original_store(*args, **kwargs)
        _to_bucket(uuid.UUID(image_id))
        return image_id

    def store_as(owner_id, image_id, prompt):
        original_store_as(owner_id, image_id, prompt)
        _to_bucket(image_id)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sharing_tests, "_store", store)
        mp.setattr(export_tests, "_store_as", store_as)
        yield


@pytest.fixture(scope="module")
def client(_every_image_in_the_bucket):
    """One app with the image, share and export routes (their paths do not overlap)."""
    app = Starlette(routes=[*image_api.routes, *share_api.routes, *export_api.routes])
    with TestClient(app, base_url=sharing_tests.BASE) as c:
        yield c


@pytest.fixture(scope="module")
def stored(client):
    """test_image_routes' fixture without a worker: one finished image of the first of two users."""
    owner, owner_cookies = image_route_tests._account()
    _, other_cookies = image_route_tests._account()
    prepared = library.prepare(export_tests.picture(256, 256))
    with session_scope() as s:
        [image_id] = library.add_images(s, owner_id=owner, job_id=None, prompt="A red boat, on the sea!", style=None,
                                        engine="offline", model="painter", conversation_id=None,
                                        parent_image_id=None,
                                        new_images=[library.NewImage(stored=prepared, seed=1, revised_prompt=None)])
    return {"image": str(image_id), "job": None, "owner": owner_cookies, "other": other_cookies}


def test_every_image_here_is_in_the_bucket(stored, users, library_of_two, two_users, s3_store_for_module):
    owner, _ = two_users
    shared = sharing_tests._store(owner, "a lake at dawn")
    ids = [uuid.UUID(stored["image"]), users["wide"], users["small"], *library_of_two["ids"], uuid.UUID(shared)]
    with session_scope() as s:
        rows = s.exec(select(Image.id, Image.storage).where(Image.id.in_(ids))).all()
        payloads = s.exec(select(ImageData.image_id).where(ImageData.image_id.in_(ids))).all()
    assert len(rows) == len(ids) and {name for _, name in rows} == {"s3"} and payloads == []
    client = s3_store_for_module.client()
    for image_id in ids:
        client.head_object(Bucket=s3_store_for_module.bucket, Key=storage.get_store(storage.S3).key(image_id))
