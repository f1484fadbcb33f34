import sys

from femnn.cli import main

sys.exit(main())
