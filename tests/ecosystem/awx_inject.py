# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWX / Automation Controller does with a custom credential type, without AWX.

``validate(credential_type)`` follows AWX's checks when a credential type is saved
(``CredentialTypeInjectorField``: every template renders with each field set to an example value
and ``StrictUndefined``; no reserved environment variable names), and
``inject(credential_type, inputs, private_data_dir)`` follows ``CredentialType.inject_credential``
when a job starts: the namespace holds the inputs the credential has (empty ones left out), each
``file`` injector ``template.<name>`` is rendered into a private file of the job
(``<private_data_dir>/env/tmpXXXX``, mode 0600) whose path becomes ``tower.filename.<name>``,
and the ``env`` injectors are rendered with that namespace. The job's ``env/envvars`` is written
the way AWX hands it to ansible-runner.
"""

from __future__ import annotations

import os
import stat
import tempfile

import yaml
from jinja2 import StrictUndefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# AWX refuses these (awx/main/fields.py ENV_BLOCKLIST plus the ANSIBLE_ prefix)
ENV_BLOCKLIST = frozenset([
    'VIRTUAL_ENV', 'PATH', 'PYTHONPATH', 'JOB_ID', 'INVENTORY_ID', 'INVENTORY_SOURCE_ID', 'INVENTORY_UPDATE_ID',
    'AD_HOC_COMMAND_ID', 'REST_API_URL', 'REST_API_TOKEN', 'MAX_EVENT_RES', 'CALLBACK_QUEUE', 'CALLBACK_CONNECTION',
    'CACHE', 'JOB_CALLBACK_DEBUG', 'INVENTORY_HOSTVARS', 'AWX_HOST', 'PROJECT_REVISION', 'SUPERVISOR_CONFIG_PATH',
])


class Namespace:
    """AWX's TowerNamespace: attribute access for ``tower.filename.<name>``."""


def load(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def field_ids(credential_type):
    return [field['id'] for field in credential_type['inputs']['fields']]


def validate(credential_type):
    """Raise ValueError for what AWX would refuse when the credential type is created."""
    injectors = credential_type.get('injectors', {})
    namespace = {}
    for field in credential_type['inputs']['fields']:
        namespace[field['id']] = False if field.get('type') == 'boolean' else 'EXAMPLE'
    tower = Namespace()
    tower.filename = Namespace()
    for label in injectors.get('file', {}):
        if not label.startswith('template.'):
            raise ValueError('file injector %s: use template.<name> (several files)' % label)
        setattr(tower.filename, label.split('.', 1)[1], 'EXAMPLE_FILENAME')
    namespace['tower'] = tower
    for env_var in injectors.get('env', {}):
        if env_var.startswith('ANSIBLE_') or env_var in ENV_BLOCKLIST:
            raise ValueError('environment variable %s is reserved in AWX' % env_var)
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind, templates in injectors.items():
        for key, template in templates.items():
            try:
                sandbox.from_string(template).render(**namespace)
            except UndefinedError as ex:
                raise ValueError('%s injector %s: %s' % (kind, key, ex)) from ex


def inject(credential_type, inputs, private_data_dir):
    """Return the environment AWX injects for a credential with these inputs; write its files and env/envvars."""
    known = set(field_ids(credential_type))
    unknown = set(inputs) - known
    if unknown:
        raise ValueError('inputs not in the credential type: %s' % ', '.join(sorted(unknown)))
    namespace = {name: value for name, value in inputs.items() if isinstance(value, bool) or len(value)}
    tower = Namespace()
    namespace['tower'] = tower
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, 'env')
    os.makedirs(env_dir, exist_ok=True)
    for label, template in credential_type['injectors'].get('file', {}).items():
        data = sandbox.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, 'w') as out:
            out.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if '.' not in label:
            tower.filename = path
        else:
            if not hasattr(tower, 'filename'):
                tower.filename = Namespace()
            setattr(tower.filename, label.split('.', 1)[1], path)
    env = {}
    for env_var, template in credential_type['injectors'].get('env', {}).items():
        env[env_var] = sandbox.from_string(template).render(**namespace)
    with open(os.path.join(env_dir, 'envvars'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump(env, handle, default_flow_style=False)
    os.chmod(os.path.join(env_dir, 'envvars'), stat.S_IRUSR | stat.S_IWUSR)
    return env


def inject_azure_rm(inputs, private_data_dir):
    """AWX's built-in "Microsoft Azure Resource Manager" credential (managed type ``azure_rm``): its injector is
    Python, not templates (awx/main/models/credential/injectors.py ``azure_rm``), so it is followed here: the
    subscription always, and with a client and a tenant the service principal's AZURE_CLIENT_ID, AZURE_TENANT
    and AZURE_SECRET (else the user name and password). Return the environment; write env/envvars."""
    env = {'AZURE_SUBSCRIPTION_ID': inputs.get('subscription', '')}
    client, tenant = inputs.get('client', ''), inputs.get('tenant', '')
    if len(client) and len(tenant):
        env['AZURE_CLIENT_ID'] = client
        env['AZURE_TENANT'] = tenant
        env['AZURE_SECRET'] = inputs.get('secret', '')
    else:
        env['AZURE_AD_USER'] = inputs.get('username', '')
        env['AZURE_PASSWORD'] = inputs.get('password', '')
    if inputs.get('cloud_environment'):
        env['AZURE_CLOUD_ENVIRONMENT'] = inputs['cloud_environment']
    return env


def write_envvars(env, private_data_dir):
    """Write the job's env/envvars (mode 0600) as AWX hands it to ansible-runner."""
    env_dir = os.path.join(private_data_dir, 'env')
    os.makedirs(env_dir, exist_ok=True)
    with open(os.path.join(env_dir, 'envvars'), 'w', encoding='utf-8') as handle:
        yaml.safe_dump(env, handle, default_flow_style=False)
    os.chmod(os.path.join(env_dir, 'envvars'), stat.S_IRUSR | stat.S_IWUSR)
