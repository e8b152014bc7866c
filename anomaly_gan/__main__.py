import sys

from anomaly_gan.cli import console

sys.exit(console())
