import sys

from whichwall.cli import main

sys.exit(main())
