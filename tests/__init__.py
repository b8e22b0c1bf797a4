from . import test_company
from . import test_secret_storage
from . import test_import_wizard
from . import test_access
from . import test_generate
from . import test_session_service
from . import test_session_concurrency
