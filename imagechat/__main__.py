import sys

from imagechat.cli import main

sys.exit(main())
