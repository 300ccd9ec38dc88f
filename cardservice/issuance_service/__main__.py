"""``python -m cardservice.issuance_service``: see :mod:`cardservice.issuance_service._serve`."""

import sys

from cardservice.issuance_service._serve import main

sys.exit(main())
