from . import secret_vault
from . import ksef_connection
from . import res_company
from . import res_users
from . import ksef_permission
from . import ksef_token
from . import res_config_settings
