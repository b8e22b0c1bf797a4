from . import ksef_token_import
from . import ksef_sandbox_token
from . import ksef_token_generate
from . import ksef_token_revoke
from . import ksef_token_share
from . import ksef_certificate_request
from . import ksef_certificate_revoke
