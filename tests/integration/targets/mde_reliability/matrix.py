# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The definitions of the reliability checks: module rows, faults, expected outcomes, bad inputs.

Plain data, read by ``reliability.py`` (which runs them against the emulator) and used to
generate the tables of ``docs/reliability.md``. Adding a module to the fault matrix is adding a
row to ``ROWS``; adding a fault is adding an entry to ``FAULTS``.
"""

from __future__ import annotations

COMMENT = 'reliability matrix'
MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'  # in the emulator's "empty" seed
ACTION_ID = '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708'    # well-formed; bad inputs never reach the API

# Small bounds so that a fault that never heals fails fast; every cell runs with them.
BOUNDS = {'timeout': 3.0, 'max_retries': 2, 'max_wait': 2.0, 'poll_interval': 0.2}

# A module row: how to call the module on the cell's action, which API operations it reads and
# writes, the most API calls one run makes (for the time bound) and in a clean run, and what
# "done" means (``check``: cancel = the action is Cancelled by us; info = the module returned the
# action; machines = the module returned exactly the cell's machine; launch = the cell's machine holds exactly one ``action_type`` action with the cell's
# comment when the task succeeded, none when it failed, and no POST followed a POST that may have
# been sent; download = launch, and the files written are what the emulator serves, or none). ``faults``
# limits a row to some faults (rows that only add another path to the same code); ``clean_calls`` of a
# row that ``waits`` leaves out the wait's polls (their number depends on timing).
# Launch rows run on a fresh machine with no action; ``{comment}`` is unique to the cell.
LAUNCH_ROWS = ['av_scan', 'isolation', 'app_restriction', 'file_quarantine', 'offboard', 'investigation_package', 'live_response']
# Rows that download results: after the launch they wait for success, ask for a link (``link_op``) and fetch it from the storage host.
DOWNLOAD_ROWS = ['investigation_package', 'live_response']
CANCEL_ROWS = ['cancel_by_id', 'cancel_by_machine']
# The token endpoint is reached before any module-specific code, through the one credential path all modules share: its
# faults run on a cancel, a look-up, a launch and a download row (they run alone, so each row costs a serial cell).
TOKEN_ROWS = ['cancel_by_id', 'info_by_id', 'av_scan', 'investigation_package']
_SHA1 = '87662bc3d60e4200ceaf7aae249d1c343f4b83c9'
_LR_COMMANDS = [{'type': 'RunScript', 'params': {'ScriptName': 'collect.ps1', 'Args': '-Full'}},
                {'type': 'GetFile', 'params': {'Path': 'C:\\Windows\\Temp\\evidence.zip'}}]
ROWS = {
    'cancel_by_id': {
        'module': 'mde_machine_action_cancel', 'args': {'id': '{action_id}', 'comment': COMMENT},
        'read_op': 'get_action', 'write_op': 'cancel_action', 'calls': 3, 'clean_calls': 2, 'check': 'cancel',
    },
    'cancel_by_machine': {
        'faults': ['429 Retry-After seconds', 'HTTP 503', 'HTTP 503 on the cancel POST', 'connection reset', 'cancel POST dropped after it was applied',
                   'read timeout (stall > timeout)', 'HTML page with HTTP 200', 'HTTP 200 with JSON that is not the entity',
                   'error envelope with unexpected fields', 'token expires mid-play', 'action turns final during the cancel'],
        'module': 'mde_machine_action_cancel', 'args': {'machine_id': '{machine_id}', 'comment': COMMENT},
        'read_op': 'list_actions', 'write_op': 'cancel_action', 'calls': 3, 'clean_calls': 2, 'check': 'cancel',
    },
    'info_by_id': {
        'module': 'mde_machine_action_info', 'args': {'id': '{action_id}'},
        'read_op': 'get_action', 'write_op': None, 'calls': 1, 'clean_calls': 1, 'check': 'info',
    },
    'info_by_filter': {
        'faults': ['429 Retry-After seconds', 'HTTP 503', 'connection reset', 'read timeout (stall > timeout)', 'HTML page with HTTP 200',
                   'HTTP 200 with JSON that is not the entity', 'error envelope with unexpected fields', 'token expires mid-play'],
        'module': 'mde_machine_action_info', 'args': {'machine_id': '{machine_id}', 'status': ['Pending']},
        'read_op': 'list_actions', 'write_op': None, 'calls': 1, 'clean_calls': 1, 'check': 'info',
    },
    'machine_info': {
        'module': 'mde_machine_info', 'args': {'id': '{machine_id}'},
        'read_op': 'get_machine', 'write_op': None, 'calls': 1, 'clean_calls': 1, 'check': 'machines',
    },
    'av_scan': {
        'module': 'mde_machine_av_scan', 'args': {'machine_id': '{machine_id}', 'scan_type': 'quick', 'comment': '{comment}'},
        'read_op': 'list_actions', 'write_op': 'run_antivirus_scan', 'action_type': 'RunAntiVirusScan', 'calls': 3, 'clean_calls': 2,
        'check': 'launch',
    },
    'isolation': {  # released_by: the action type that undoes the launch (the ``twin`` fault releases the machine again)
        'released_by': 'Unisolate', 'module': 'mde_machine_isolation',
        'args': {'machine_id': '{machine_id}', 'state': 'isolated', 'isolation_type': 'full', 'comment': '{comment}'},
        'read_op': 'list_actions', 'write_op': 'isolate', 'action_type': 'Isolate', 'calls': 3, 'clean_calls': 2, 'check': 'launch',
    },
    'app_restriction': {
        'module': 'mde_machine_app_restriction', 'args': {'machine_id': '{machine_id}', 'state': 'restricted', 'comment': '{comment}'},
        'read_op': 'list_actions', 'write_op': 'restrict_code_execution', 'action_type': 'RestrictCodeExecution', 'calls': 3,
        'clean_calls': 2, 'check': 'launch',
    },
    'file_quarantine': {
        'module': 'mde_machine_file_quarantine', 'args': {'machine_id': '{machine_id}', 'sha1': _SHA1, 'comment': '{comment}'},
        'read_op': 'list_actions', 'write_op': 'stop_and_quarantine_file', 'action_type': 'StopAndQuarantineFile', 'calls': 3,
        'clean_calls': 2, 'check': 'launch',
    },
    'offboard': {
        'module': 'mde_machine_offboard', 'args': {'machine_id': '{machine_id}', 'comment': '{comment}'},
        'read_op': 'list_actions', 'write_op': 'offboard', 'action_type': 'Offboard', 'calls': 3, 'clean_calls': 2, 'check': 'launch',
    },
    # calls: look-up, POST, the wait's polls (bounded by wait_timeout), two links (a refused one is asked for again), two downloads
    'investigation_package': {
        'module': 'mde_machine_investigation_package', 'args': {'machine_id': '{machine_id}', 'comment': '{comment}', 'dest': '{dest}/package.zip',
                                                                'wait_timeout': 60},
        'read_op': 'list_actions', 'write_op': 'collect_investigation_package', 'link_op': 'get_package_uri',
        'action_type': 'CollectInvestigationPackage', 'calls': 6, 'clean_calls': 3, 'check': 'download', 'waits': True,
    },
    'live_response': {
        'module': 'mde_machine_live_response', 'args': {'machine_id': '{machine_id}', 'comment': '{comment}', 'commands': _LR_COMMANDS,
                                                        'dest': '{dest}', 'wait_timeout': 60},
        'read_op': 'list_actions', 'write_op': 'run_live_response', 'link_op': 'get_live_response_result',
        'action_type': 'LiveResponse', 'calls': 10, 'clean_calls': 4, 'check': 'download', 'waits': True,
    },
}
_ENVELOPE_EXTRA = {
    'error': {'code': 'InvalidRequest', 'message': 'Something about the request is off', 'target': 'f0e1d2c3-corr',
              'innerError': {'date': '2025-05-14T10:00:00', 'request-id': 'abc'}, 'details': [{'code': 'x'}]},
    'odata.metadata': 'ignored', 'unexpected': [1, 2, 3],
}
_ENVELOPE_ODD = {'error': {'code': 4711, 'message': {'nested': 'not a string'}, 'target': 12}, 'error_description': 'x'}
_ENTRA_INVALID_CLIENT = {
    'error': 'invalid_client',
    'error_description': 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the '
                         'client secret value, not the client secret ID.\r\nTrace ID: 0\r\nCorrelation ID: 1\r\nTimestamp: 2',
    'error_codes': [7000215], 'correlation_id': 'c0ffee00-0000-4000-8000-000000000001',
}
_STORAGE_EXPIRED = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate '
                    'the request. Signed expiry time has to be after signed start time and the current time.</Message></Error>')
_HTML_200 = '<html><head><title>Sign in to the proxy</title></head><body><h1>Proxy login</h1></body></html>'

# A fault: where it hits (``on``: read = the row's first API operation, write = its cancel/launch
# POST, token = the login host's token endpoint, api = every API call), the emulator rule, how
# often (``times``, 0 = never heals), what the user gets (``expect``: recovers | fails | final
# (the action turned final, ok and not changed)), and for failures a text the message must hold.
# ``api_url: closed`` points api_url at a closed loopback port instead of installing a rule.
FAULTS = [
    {'name': '429 Retry-After seconds', 'on': 'read', 'rule': {'kind': 'throttle', 'retry_after': 1}, 'times': 1, 'expect': 'recovers'},
    {'name': '429 Retry-After HTTP date', 'on': 'read', 'rule': {'kind': 'throttle', 'retry_after': 'http-date', 'retry_after_seconds': 1},
     'times': 1, 'expect': 'recovers'},
    {'name': '429 without Retry-After', 'on': 'read', 'rule': {'kind': 'throttle', 'retry_after': None}, 'times': 1, 'expect': 'recovers'},
    {'name': '429 on the cancel POST', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'throttle', 'retry_after': 1}, 'times': 1, 'expect': 'recovers'},
    {'name': '429 that never ends', 'on': 'read', 'rule': {'kind': 'throttle', 'retry_after': 1}, 'times': 0, 'expect': 'fails',
     'msg': ['429', 'max_retries=2']},
    {'name': '429 asking longer than max_wait', 'on': 'read', 'rule': {'kind': 'throttle', 'retry_after': 600}, 'times': 1,
     'expect': 'fails', 'msg': ['max_wait']},
    {'name': 'HTTP 500', 'on': 'read', 'rule': {'kind': 'error', 'status': 500}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTTP 502', 'on': 'read', 'rule': {'kind': 'error', 'status': 502}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTTP 503', 'on': 'read', 'rule': {'kind': 'error', 'status': 503}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTTP 504', 'on': 'read', 'rule': {'kind': 'error', 'status': 504}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTTP 503 on the cancel POST', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTTP 503 that never ends', 'on': 'read', 'rule': {'kind': 'error', 'status': 503}, 'times': 0, 'expect': 'fails',
     'msg': ['503', 'max_retries=2']},
    {'name': 'connection refused', 'on': 'api', 'api_url': 'closed', 'rule': None, 'times': 0, 'expect': 'fails',
     'msg': ['Could not connect', 'max_retries=2']},
    {'name': 'connection reset', 'on': 'read', 'rule': {'kind': 'reset'}, 'times': 1, 'expect': 'recovers'},
    {'name': 'reset after the cancel was applied', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'reset', 'process': True}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'dropped after the request was sent', 'on': 'read', 'rule': {'kind': 'drop', 'process': True}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'cancel POST dropped after it was applied', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'drop', 'process': True}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'read timeout (stall > timeout)', 'on': 'read', 'rule': {'kind': 'stall', 'seconds': 7}, 'times': 1, 'expect': 'recovers'},
    {'name': 'read timeout on the cancel POST, applied', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'stall', 'seconds': 7, 'process': True},
     'times': 1, 'expect': 'recovers'},
    {'name': 'stall that never ends', 'on': 'read', 'rule': {'kind': 'stall', 'seconds': 7}, 'times': 0, 'expect': 'fails',
     'msg': ['timeout=3', 'max_retries=2']},
    {'name': 'slow answers just under timeout', 'on': 'api', 'rule': {'kind': 'delay', 'seconds': 2}, 'times': 0, 'expect': 'recovers',
     'no_retry': True},
    {'name': 'HTML page from a proxy (502)', 'on': 'read', 'rule': {'kind': 'html', 'status': 502}, 'times': 1, 'expect': 'recovers'},
    {'name': 'HTML page from a proxy, always', 'on': 'read', 'rule': {'kind': 'html', 'status': 502}, 'times': 0, 'expect': 'fails',
     'msg': ['not the API', 'proxy', 'max_retries=2']},
    {'name': 'HTML page with HTTP 200', 'on': 'read',
     'rule': {'kind': 'status', 'status': 200, 'body': _HTML_200, 'content_type': 'text/html'}, 'times': 0, 'expect': 'fails',
     'msg': ['not JSON', 'proxy']},
    {'name': 'HTTP 200 with JSON that is not the entity', 'on': 'read',
     'rule': {'kind': 'status', 'status': 200, 'body': {'value': 'nope', 'id': 5}}, 'times': 0, 'expect': 'fails',
     'msg': ['unexpected', 'api_url']},
    {'name': 'error envelope with unexpected fields', 'on': 'read', 'rule': {'kind': 'status', 'status': 400, 'body': _ENVELOPE_EXTRA},
     'times': 0, 'expect': 'fails', 'msg': ['HTTP 400', 'InvalidRequest', 'Something about the request is off', 'f0e1d2c3-corr']},
    {'name': 'error envelope with odd types', 'on': 'read', 'rule': {'kind': 'status', 'status': 400, 'body': _ENVELOPE_ODD},
     'times': 0, 'expect': 'fails', 'msg': ['HTTP 400', '4711']},
    {'name': 'token endpoint HTTP 500', 'on': 'token', 'rows': TOKEN_ROWS, 'rule': {'kind': 'error', 'status': 500}, 'times': 1, 'expect': 'recovers'},
    {'name': 'token endpoint HTTP 503, always', 'on': 'token', 'rows': TOKEN_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 0, 'expect': 'fails',
     'msg': ['Entra ID', 'max_retries=2']},
    {'name': 'token endpoint invalid_client', 'on': 'token', 'rows': TOKEN_ROWS, 'rule': {'kind': 'status', 'status': 401, 'body': _ENTRA_INVALID_CLIENT},
     'times': 0, 'expect': 'fails', 'msg': ['rejected the credentials', 'AADSTS7000215', 'client_secret (MDE_CLIENT_SECRET)']},
    {'name': 'token endpoint timeout', 'on': 'token', 'rows': TOKEN_ROWS, 'rule': {'kind': 'stall', 'seconds': 7}, 'times': 0, 'expect': 'fails',
     'msg': ['timeout=3', 'max_retries=2']},
    {'name': 'token expires mid-play', 'on': 'last', 'rule': {'kind': 'expire_token'}, 'times': 1, 'expect': 'recovers',
     'token_requests': 2},
    {'name': 'every token refused', 'on': 'read', 'rule': {'kind': 'expire_token'}, 'times': 0, 'expect': 'fails',
     'msg': ['401', 'permissions']},
    {'name': 'wait that never ends (wait_timeout=4)', 'on': 'api', 'rows': ['cancel_by_id'], 'skip': 1, 'args': {'wait': True, 'wait_timeout': 4},
     'rule': {'kind': 'status', 'status': 200, 'body': {'id': '{action_id}', 'status': 'Pending', 'machineId': '{machine_id}'}},
     'times': 0, 'expect': 'fails', 'msg': ['still queued (Pending)', 'wait_timeout=4']},
    {'name': 'action turns final during the cancel', 'on': 'write', 'rows': CANCEL_ROWS, 'rule': {'kind': 'finalize_on_cancel', 'final_status': 'Succeeded'},
     'times': 1, 'expect': 'final'},
    # A launch POST is never resent once it may have reached the server: a lost answer (timeout, broken connection, 5xx) is
    # settled by looking for an action of that type with the task's comment; 429 is retried (nothing was processed).
    {'name': '429 on the launch POST', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'throttle', 'retry_after': 1}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'HTTP 500 on the launch POST', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'error', 'status': 500}, 'times': 1,
     'expect': 'fails', 'msg': ['500', 'not launched', 'safe']},
    {'name': 'HTTP 503 on the launch POST', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 1,
     'expect': 'fails', 'msg': ['503', 'not launched', 'safe']},
    {'name': 'HTTP 400 on the launch POST, nothing running', 'on': 'write', 'rows': LAUNCH_ROWS,
     'rule': {'kind': 'status', 'status': 400, 'body': {'error': {'code': 'ActiveRequestAlreadyExists',
                                                                  'message': 'Action is already in progress'}}},
     'times': 1, 'expect': 'fails', 'msg': ['HTTP 400', 'ActiveRequestAlreadyExists']},
    {'name': 'reset after the launch was applied', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'reset', 'process': True},
     'times': 1, 'expect': 'recovers'},
    {'name': 'reset before the launch was applied', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'reset', 'process': False},
     'times': 1, 'expect': 'fails', 'msg': ['not launched', 'safe']},
    {'name': 'launch POST dropped after it was applied', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'drop', 'process': True},
     'times': 1, 'expect': 'recovers'},
    {'name': 'launch POST dropped before it was applied', 'on': 'write', 'rows': LAUNCH_ROWS, 'rule': {'kind': 'drop', 'process': False},
     'times': 1, 'expect': 'fails', 'msg': ['not launched', 'safe']},
    {'name': 'read timeout on the launch POST, applied', 'on': 'write', 'rows': LAUNCH_ROWS,
     'rule': {'kind': 'stall', 'seconds': 7, 'process': True}, 'times': 1, 'expect': 'recovers'},
    {'name': 'read timeout on the launch POST, not applied', 'on': 'write', 'rows': LAUNCH_ROWS,
     'rule': {'kind': 'stall', 'seconds': 7, 'process': False}, 'times': 1, 'expect': 'fails', 'msg': ['timeout=3', 'not launched', 'safe']},
    # The comment of a finished action reused within CLOCK_SKEW (300 s): the cell's machine already holds a Succeeded action
    # of the row's type with the cell's comment, created 180 s before (state rows: released again since, so that the task
    # launches). The lost answer was never applied: the recovery look-up must not take the old action for the new one.
    {'name': 'comment reused, launch reset before it was applied', 'on': 'write', 'rows': ['av_scan', 'isolation'], 'twin': 180,
     'rule': {'kind': 'reset', 'process': False}, 'times': 1, 'expect': 'fails', 'msg': ['not launched', 'safe']},
    # Download rows: the link call (package URI, live response result link) and the storage host that serves the files.
    # After the launch a failure must keep the action (changed, machine_action) in the result and leave no file behind.
    {'name': '429 on the link call', 'on': 'link', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'throttle', 'retry_after': 1}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'HTTP 503 on the link call', 'on': 'link', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'link call reset', 'on': 'link', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'reset'}, 'times': 1, 'expect': 'recovers'},
    {'name': 'link call 404 right after success', 'on': 'link', 'rows': DOWNLOAD_ROWS,
     'rule': {'kind': 'status', 'status': 404, 'body': {'error': {'code': 'ResourceNotFound', 'message': 'Not found yet'}}}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'link call HTTP 503, always', 'on': 'link', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 0,
     'expect': 'fails', 'msg': ['Succeeded, but fetching its results failed', '503', 'max_retries=2', 'action_id: ']},
    {'name': 'link call answers without a link', 'on': 'link', 'rows': DOWNLOAD_ROWS,
     'rule': {'kind': 'status', 'status': 200, 'body': {'@odata.context': 'x', 'value': None}}, 'times': 0,
     'expect': 'fails', 'msg': ['without a download link', 'action_id: ']},
    {'name': 'storage HTTP 503', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'error', 'status': 503}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'storage connection reset', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'reset'}, 'times': 1, 'expect': 'recovers'},
    {'name': 'storage read timeout', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'stall', 'seconds': 7}, 'times': 1,
     'expect': 'recovers'},
    {'name': 'download reset mid-body', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'truncate'}, 'times': 1, 'expect': 'recovers'},
    {'name': 'download closed early (clean close)', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'truncate', 'reset': False},
     'times': 1, 'expect': 'recovers'},
    {'name': 'expired link (storage 403)', 'on': 'storage', 'rows': DOWNLOAD_ROWS,
     'rule': {'kind': 'status', 'status': 403, 'body': _STORAGE_EXPIRED, 'content_type': 'application/xml'}, 'times': 1, 'expect': 'recovers'},
    {'name': 'storage 403, always', 'on': 'storage', 'rows': DOWNLOAD_ROWS,
     'rule': {'kind': 'status', 'status': 403, 'body': _STORAGE_EXPIRED, 'content_type': 'application/xml'}, 'times': 0,
     'expect': 'fails', 'msg': ['HTTP 403', 'AuthenticationFailed', 'action_id: ']},
    {'name': 'download cut short, always', 'on': 'storage', 'rows': DOWNLOAD_ROWS, 'rule': {'kind': 'truncate'}, 'times': 0,
     'expect': 'fails', 'msg': ['broke after', 'max_retries=2', 'action_id: ']},
]


# The Redis rate budget (issue 14): its store unreachable. The budget is spent in the one HTTP path (MdeClient) before every API
# call, so a read row and a launch row prove it: the task goes on with this host's file budget and warns, and launches once.
FAULTS.append({'name': 'Redis rate budget unreachable', 'on': 'api', 'rows': ['cancel_by_id', 'av_scan'], 'redis_url': 'closed', 'rule': None,
               'times': 0, 'expect': 'recovers', 'no_retry': True, 'warning': 'The Redis rate budget at'})


# Bad inputs: module, arguments, environment changes (credentials come from MDE_* variables),
# the option the message must name and the fix it must state. None may reach the emulator.
# ``{cert:...}`` placeholders are files reliability.py prepares (see prepare_files()).
BAD_INPUTS = [
    ('mde_machine_action_cancel', {'id': 'not-a-guid', 'comment': 'x'}, {}, 'id', 'a GUID such as'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'comment': '   '}, {}, 'comment', 'say why'),
    ('mde_machine_action_cancel', {'id': ACTION_ID}, {}, 'comment', 'missing required arguments'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'machine_id': MACHINE, 'comment': 'x'}, {}, 'id|machine_id', 'mutually exclusive'),
    ('mde_machine_action_cancel', {'comment': 'x'}, {}, 'id, machine_id', 'one of the following is required'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'type': ['Isolate'], 'comment': 'x'}, {}, 'type', 'needs machine_id or computer_dns_name'),
    ('mde_machine_action_cancel', {'machine_id': MACHINE, 'type': ['Isolation'], 'comment': 'x'}, {}, 'type', 'Isolate'),
    ('mde_machine_action_cancel', {'machine_id': 'desktop-39g9tgl.contoso.com', 'comment': 'x'}, {}, 'machine_id', '40 hexadecimal'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'comment': 'x', 'wait': True, 'wait_timeout': 0}, {}, 'wait_timeout', 'positive'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'comment': 'x', 'wait_timeout': 'soon'}, {}, 'wait_timeout', 'int'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'comment': 'x', 'wait': 'maybe'}, {}, 'wait', 'bool'),
    ('mde_machine_action_info', {'id': '12345'}, {}, 'id', 'a GUID such as'),
    ('mde_machine_action_info', {'id': ACTION_ID, 'status': ['Pending']}, {}, 'id|status', 'mutually exclusive'),
    ('mde_machine_action_info', {'status': ['Running']}, {}, 'status', 'InProgress'),
    ('mde_machine_action_info', {'created_after': 'yesterday'}, {}, 'created_after', '2025-05-01T08:00:00Z'),
    ('mde_machine_action_info', {'created_after': '2025-02-30'}, {}, 'created_after', 'not a valid date'),
    ('mde_machine_action_info', {'created_after': '0001-01-01T00:00:00+05:00'}, {}, 'created_after', 'out of range'),
    ('mde_machine_action_info', {'machine_id': "x' or 1 eq 1 or machineId eq 'y"}, {}, 'machine_id', '40 hexadecimal'),
    ('mde_machine_action_info', {'api_url': 'http://127.0.0.1:1'}, {}, 'api_url (MDE_API_URL)', 'https://'),
    ('mde_machine_action_info', {'api_url': 'https://127.0.0.1:1/?x=1'}, {}, 'api_url (MDE_API_URL)', 'plain https://host[:port]'),
    ('mde_machine_action_info', {'api_url': 'https://127.0.0.1:99999'}, {}, 'api_url (MDE_API_URL)', 'invalid port'),
    ('mde_machine_action_info', {'authority_host': 'ftp://login.example'}, {}, 'authority_host (MDE_AUTHORITY_HOST)', 'https://'),
    ('mde_machine_action_info', {}, {'MDE_CLIENT_SECRET': ''}, 'client_secret (MDE_CLIENT_SECRET', 'No credentials: set'),
    ('mde_machine_action_info', {}, {'MDE_TENANT_ID': ''}, 'tenant_id (MDE_TENANT_ID', 'needed with client_secret'),
    ('mde_machine_action_info', {}, {'MDE_CLIENT_ID': ''}, 'client_id (MDE_CLIENT_ID', 'needed with client_secret'),
    ('mde_machine_action_info', {'tenant_id': 'contoso/../evil'}, {}, 'tenant_id', 'verified domain name'),
    ('mde_machine_action_info', {'client_certificate_path': '/nonexistent/cert.pem'}, {}, 'client_certificate_path', 'readable by the user'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:folder}'}, {}, 'client_certificate_path', 'readable by the user'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:garbage}'}, {}, 'client_certificate_password', 'PKCS#12'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:public_only}'}, {}, 'client_certificate_path', 'private key'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:mismatched}'}, {}, 'client_certificate_path', 'does not belong'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:encrypted}'}, {}, 'client_certificate_password', 'encrypted: set'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:encrypted}', 'client_certificate_password': 'wrong-pw'}, {},
     'client_certificate_password', 'does not decrypt'),
    ('mde_machine_action_info', {'client_certificate_path': '{cert:pfx}', 'client_certificate_password': 'wrong-pw'}, {},
     'client_certificate_password', 'check client_certificate_password'),
    ('mde_machine_action_info', {'ca_path': '/nonexistent/ca.pem'}, {}, 'ca_path (MDE_CA_PATH)', 'PEM'),
    ('mde_machine_action_info', {'cloud': 'azure'}, {}, 'cloud', 'gcc_high'),
    ('mde_machine_action_info', {'scope': '   '}, {}, 'scope', 'must not be empty'),
    ('mde_machine_action_info', {'timeout': 0}, {}, 'timeout', 'greater than 0'),
    ('mde_machine_action_info', {'timeout': 'fast'}, {}, 'timeout', 'float'),
    ('mde_machine_action_info', {'max_wait': -1}, {}, 'max_wait', 'greater than 0'),
    ('mde_machine_action_info', {'max_retries': -1}, {}, 'max_retries', '0 or more'),
    ('mde_machine_action_info', {'rate_limit_per_minute': 0}, {}, 'rate_limit_per_minute', 'greater than 0'),
    ('mde_machine_action_info', {'poll_interval': 0}, {}, 'poll_interval', 'greater than 0'),
    ('mde_machine_action_info', {'rate_limit_backend': 'shared'}, {}, 'rate_limit_backend', 'one of: file, redis'),
    ('mde_machine_action_info', {'rate_limit_backend': 'redis'}, {}, 'redis_url (MDE_REDIS_URL)', 'needs redis_url'),
    ('mde_machine_action_info', {'rate_limit_backend': 'redis', 'redis_url': 'http://127.0.0.1:6379'}, {}, 'redis_url (MDE_REDIS_URL)',
     'must start with redis://, rediss://'),
    ('mde_machine_action_info', {'rate_limit_backend': 'redis', 'redis_url': 'rediss://127.0.0.1:6380/0?ssl_cert_reqs=none'}, {},
     'redis_url (MDE_REDIS_URL)', 'takes only db, ssl_ca_certs'),
    ('mde_machine_action_info', {}, {'MDE_ACCESS_TOKEN': '   '}, 'access_token (MDE_ACCESS_TOKEN)', 'holds no usable token'),
    # auth_method (issue 15): a named method without its options, and bad secretless inputs
    ('mde_machine_action_info', {'auth_method': 'workload_identity'}, {}, 'federated_token_file (MDE_FEDERATED_TOKEN_FILE',
     'auth_method (MDE_AUTH_METHOD) is workload_identity'),
    ('mde_machine_action_info', {}, {'MDE_AUTH_METHOD': 'certificate'}, 'client_certificate_path (MDE_CLIENT_CERTIFICATE_PATH',
     'auth_method (MDE_AUTH_METHOD) is certificate'),
    ('mde_machine_action_info', {'auth_method': 'kerberos'}, {}, 'auth_method', 'workload_identity, managed_identity'),
    ('mde_machine_action_info', {'auth_method': 'workload_identity', 'federated_token_file': '/nonexistent/token'}, {},
     'federated_token_file', 'cannot be read'),
    ('mde_machine_action_info', {'auth_method': 'workload_identity', 'federated_token': 'not-a-jwt'}, {}, 'federated_token',
     'does not hold a JWT'),
    ('mde_machine_action_info', {'auth_method': 'managed_identity', 'managed_identity_client_id': 'my-vm-identity'}, {},
     'managed_identity_client_id (MDE_MANAGED_IDENTITY_CLIENT_ID)', 'a GUID'),
    ('mde_machine_action_cancel', {'id': ACTION_ID, 'comment': 'x', 'access_token': 'Bearer '}, {}, 'access_token (MDE_ACCESS_TOKEN)',
     'holds no usable token'),
    ('mde_machine_info', {'id': 'web-prod-01'}, {}, 'id', '40 hexadecimal'),
    ('mde_machine_info', {'health_status': ['Online']}, {}, 'health_status', 'Active'),
    ('mde_machine_info', {'os_platform': ["Windows11' or 1 eq 1"]}, {}, 'os_platform', 'Windows11 or Linux'),
    ('mde_machine_info', {'id': MACHINE, 'tag': 'prod'}, {}, 'id|tag', 'mutually exclusive'),
    # launch modules (options shared by every launch module, then each module's own)
    ('mde_machine_av_scan', {'machine_id': MACHINE, 'comment': 'x', 'scan_type': 'deep'}, {}, 'scan_type', 'one of: quick, full'),
    ('mde_machine_av_scan', {'machine_id': MACHINE, 'computer_dns_name': 'web-prod-01', 'comment': 'x'}, {}, 'machine_id|computer_dns_name',
     'mutually exclusive'),
    ('mde_machine_av_scan', {'comment': 'x'}, {}, 'machine_id, computer_dns_name', 'one of the following is required'),
    ('mde_machine_av_scan', {'machine_id': MACHINE, 'comment': '  '}, {}, 'comment', 'say why'),
    ('mde_machine_av_scan', {'machine_id': MACHINE, 'comment': 'x', 'wait': True, 'wait_timeout': 0}, {}, 'wait_timeout', 'positive'),
    ('mde_machine_av_scan', {'machine_id': 'web-prod-01.contoso.com', 'comment': 'x'}, {}, 'machine_id', '40 hexadecimal'),
    ('mde_machine_av_scan', {'computer_dns_name': 'web prod/01', 'comment': 'x'}, {}, 'computer_dns_name', 'host name or fully qualified'),
    ('mde_machine_isolation', {'machine_id': MACHINE, 'comment': 'x', 'isolation_type': 'partial'}, {}, 'isolation_type',
     'one of: full, selective, unmanaged_device'),
    ('mde_machine_isolation', {'machine_id': MACHINE, 'comment': 'x', 'state': 'contained'}, {}, 'state', 'one of: isolated, released'),
    ('mde_machine_isolation', {'machine_id': MACHINE}, {}, 'comment', 'missing required arguments'),
    ('mde_machine_file_quarantine', {'machine_id': MACHINE, 'comment': 'x', 'sha1': 'abc123'}, {}, 'sha1', '40 hexadecimal'),
    ('mde_machine_file_quarantine', {'machine_id': MACHINE, 'comment': 'x', 'sha1': 'g' * 40}, {}, 'sha1', '40 hexadecimal'),
    ('mde_machine_investigation_package', {'machine_id': MACHINE, 'comment': 'x', 'dest': '/nonexistent/folder/package.zip'}, {}, 'dest',
     'create it first'),
    ('mde_machine_investigation_package', {'action_id': 'not-a-guid', 'dest': '/tmp/package.zip'}, {}, 'action_id', 'a GUID such as'),
    ('mde_machine_investigation_package', {'action_id': ACTION_ID}, {}, "'action_id': dest", 'missing parameter(s) required by'),
    ('mde_machine_investigation_package', {'action_id': ACTION_ID, 'comment': 'x', 'dest': '/tmp/package.zip'}, {}, 'action_id|comment',
     'mutually exclusive'),
    ('mde_machine_live_response', {'machine_id': MACHINE, 'comment': 'x', 'commands': []}, {}, 'commands', 'at least one command'),
    ('mde_machine_live_response', {'machine_id': MACHINE, 'comment': 'x'}, {}, 'commands, action_id', 'one of the following is required'),
    ('mde_machine_live_response', {'machine_id': MACHINE, 'comment': 'x', 'commands': [{'type': 'Shell', 'params': {'ScriptName': 'x.ps1'}}]},
     {}, 'type', 'one of: GetFile, PutFile, RunScript'),
    ('mde_machine_live_response', {'machine_id': MACHINE, 'comment': 'x', 'commands': [{'type': 'RunScript', 'params': {'Args': '-v'}}]},
     {}, 'commands[0]', 'needs params ScriptName'),
]


# One cell per code path. Where several rows reach a fault through the same code, the fault runs on the rows that prove
# each path and the other rows' cells of it are covered there: (rows, the row whose cell covers them, which faults, why).
# ``on`` selects faults by where they hit; ``except`` keeps some of those on every row. Nothing is dropped silently:
# covered_cells() lists each covered cell with the cell that covers it, and docs/reliability.md publishes that list.
# Read side: the 7 launch rows make their first call through Launcher, as one of two look-ups over MachineActions.list
# (one-shot rows: running(), the non-final actions of the type; state rows: active(), the Pending/InProgress/Succeeded
# history of both types that gives the state); a fault there never reaches module code, and once healed the run is a
# clean one. A download row is kept because after the look-up it goes on to wait, link and storage calls (the
# ``api`` faults hit those too).
# Launch POST: one code path (Launcher.launch, then _recover after a lost answer) for every module; what differs per
# module is the body and ``LaunchSpec.same``, which judges the 201 answer and the action the recovery look-up finds.
# So every launch row keeps the POST fault that recovers through its own 201 answer (429) and one whose recovery look-up
# finds the action it created (reset after it was applied); the other POST faults never reach module code (refused,
# or not applied: no action holds the comment) and run on a one-shot and a state row.
READ_SIDE = ['read', 'api', 'last']
LAUNCH_POST_OWN = ['429 on the launch POST', 'reset after the launch was applied']
COVERED_BY = [
    {'rows': ['file_quarantine'], 'by': 'av_scan', 'on': READ_SIDE,
     'why': 'one-shot launch: the same look-up of running actions (Launcher.running) as av_scan, then the POST'},
    {'rows': ['app_restriction', 'offboard'], 'by': 'isolation', 'on': READ_SIDE,
     'why': 'state launch: the same history look-up (Launcher.active) as isolation, then the POST'},
    {'rows': ['live_response'], 'by': 'investigation_package', 'on': READ_SIDE,
     'why': 'download launch: the same look-up of running actions as investigation_package, then wait, link calls and storage '
            'host through the same fetch_result'},
    {'rows': ['file_quarantine', 'investigation_package', 'live_response'], 'by': 'av_scan', 'on': ['write'], 'except': LAUNCH_POST_OWN,
     'why': 'the launch POST and its failure handling (Launcher.launch, _recover) are the same code for every one-shot module; '
            'refused or not applied, no action holds the comment, so no module code runs'},
    {'rows': ['app_restriction', 'offboard'], 'by': 'isolation', 'on': ['write'], 'except': LAUNCH_POST_OWN,
     'why': 'the launch POST and its failure handling are the same code for every state module, with the running actions '
            'taken from the history look-up'},
    {'rows': ['info_by_id'], 'by': 'cancel_by_id', 'on': ['read', 'api'],
     'why': 'both read the action through MachineActions.get (GET /api/machineactions/{id}, checked_entity) first'},
    {'rows': ['info_by_id'], 'by': 'cancel_by_id', 'on': ['token'],
     'why': 'the token is fetched at the first API call, the same GET of the action, before any module code'},
    {'rows': ['investigation_package'], 'by': 'av_scan', 'on': ['token'],
     'why': 'the token is fetched at the first API call, the same look-up of running actions, before anything download-specific'},
]


def _applies(row_name, row, fault):
    if fault['on'] == 'write' and not row['write_op']:
        return False
    if fault.get('rows') and row_name not in fault['rows']:
        return False
    return not (row.get('faults') and fault['name'] not in row['faults'])


def covered_by(row_name, fault):
    """The rule whose row covers this (row, fault) cell, or None when the cell runs."""
    for rule in COVERED_BY:
        if row_name in rule['rows'] and fault['on'] in rule['on'] and fault['name'] not in rule.get('except', []):
            return rule
    return None


def all_cells(rows=None):
    """Every (row name, fault) pair that applies: write faults need a row that writes."""
    return [(row_name, fault) for row_name, row in (rows or ROWS).items() for fault in FAULTS if _applies(row_name, row, fault)]


def cells(rows=None):
    """The cells that run: every pair that applies, less those another row's cell covers (covered_cells)."""
    return [(row_name, fault) for row_name, fault in all_cells(rows) if covered_by(row_name, fault) is None]


def covered_cells(rows=None):
    """(row, fault, covering row, why) for each cell that does not run because another row's cell covers its path."""
    out = []
    for row_name, fault in all_cells(rows):
        rule = covered_by(row_name, fault)
        if rule is not None:
            if not _applies(rule['by'], ROWS[rule['by']], fault):
                raise ValueError('%s / %s: the covering row %s does not run that fault' % (row_name, fault['name'], rule['by']))
            out.append((row_name, fault, rule['by'], rule['why']))
    return out
