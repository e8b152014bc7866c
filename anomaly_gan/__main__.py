import sys

from anomaly_gan.cli import main

sys.exit(main())
