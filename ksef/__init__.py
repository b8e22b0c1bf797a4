"""Pure-Python KSeF 2.0 package: protocol client, XAdES, crypto, token parsing and a local
KSeF simulator. It imports nothing from Odoo, so it is tested on its own
(``pytest ksef/tests``) and can be reused outside Odoo.

Layout (data flows one way: callers -> client -> HTTP):

* :mod:`.errors`       the one exception family (never carries a secret)
* :mod:`.models`       plain data objects (secrets are ``repr=False``)
* :mod:`.identifiers`  NIP and branch ``InternalId`` validation, :class:`ContextIdentifier`
* :mod:`.tokens`       parsing/classifying pasted KSeF token strings
* :mod:`.permissions`  token permission names, A/W/P presets, operation -> permission map
* :mod:`.crypto`       RSA-OAEP token encryption, certificates, PKCS#12
* :mod:`.testing_certs` self-signed test certificates and keys (tests, simulator, sandbox)
* :mod:`.xades`        AuthTokenRequest building, safe parsing, XAdES signing and verification
* :mod:`.environments` base URLs of KSeF Test / Demo / Production
* :mod:`.client`       :class:`KsefClient`, the HTTP client of the KSeF API 2.0
* :mod:`.auth_flows`   its authentication endpoints and flows (challenge, token, XAdES, polling)
* :mod:`.certificates` its KSeF-certificate endpoints (limits, enrolment, query, revoke)
* :mod:`.csr`          keys and PKCS#10 requests for KSeF certificates, QR code II signatures
* :mod:`.wire`         KSeF's JSON answers and error bodies read into models, date-times
* :mod:`.simulator`    a WSGI KSeF simulator (in-process and over HTTP)

Everything inside uses relative imports only, so the package works both as the top-level
package ``ksef`` (its own tests) and as ``odoo.addons.l10n_pl_ksef_token.ksef``.
"""
