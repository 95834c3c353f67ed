import sys

from pllm.cli import main

sys.exit(main())
