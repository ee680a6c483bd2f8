# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The runner: the only code that reads a module's params, check mode and diff mode, and that shapes its
results and failures. Each module is its argument spec, its documentation and one call of a ``run_*``
function here; the flow below it is the service layer (``_launch``, ``_machine_action``, ``_machine``,
``_downloads``, ``_tags``), which takes a client and plain values.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._http import join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils._module import MdeModule
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma

# _launch, _downloads and _tags are imported by the functions that use them: a task pays only for the code
# of its own path (an AnsiballZ payload compiles its module_utils from source on every run).

# The options every launching module shares.
LAUNCH_ARGSPEC = dict(
    machine_id=dict(type='str'),
    computer_dns_name=dict(type='str'),
    comment=dict(type='str', required=True),
    wait=dict(type='bool', default=False),
    wait_timeout=dict(type='int', default=600),
)

# ... and those of the modules that download results.
DOWNLOAD_ARGSPEC = dict(
    action_id=dict(type='str'),
    dest=dict(type='path'),
    force=dict(type='bool', default=False),
)


def launch_module(argument_spec=None, downloads=False, **kwargs):
    """An MdeModule with the options every launching module shares.

    ``downloads``: the module fetches results (``dest``, ``force``) and can fetch those of an existing
    action instead of launching (``action_id``, which then stands for machine and comment).
    """
    spec = dict(LAUNCH_ARGSPEC)
    exclusive, one_of = [('machine_id', 'computer_dns_name')], [('machine_id', 'computer_dns_name')]
    if downloads:
        spec.update(DOWNLOAD_ARGSPEC)
        spec['comment'] = dict(type='str')
        exclusive += [('action_id', 'machine_id'), ('action_id', 'computer_dns_name'), ('action_id', 'comment')]
        one_of = [('machine_id', 'computer_dns_name', 'action_id'), ('comment', 'action_id')]
        kwargs.setdefault('required_by', {})['action_id'] = 'dest'
    spec.update(argument_spec or {})
    kwargs.setdefault('mutually_exclusive', []).extend(exclusive)
    kwargs.setdefault('required_one_of', []).extend(one_of)
    kwargs.setdefault('supports_check_mode', True)
    return MdeModule(argument_spec=spec, **kwargs)


def check_launch_options(module):
    """Bad input fails before any request."""
    p = module.params
    if p['wait_timeout'] <= 0:
        raise config_error('wait_timeout must be a positive number of seconds, got %d.' % p['wait_timeout'])
    if p.get('action_id') is not None:
        p['action_id'] = ma.check_action_id(p['action_id'], option='action_id')
        return
    ma.check_comment(p['comment'])
    if p['machine_id']:
        ma.check_machine_id(p['machine_id'])
    else:
        _machine.check_computer_dns_name(p['computer_dns_name'])


def resolve_machine(module):
    p = module.params
    if p['machine_id']:
        return p['machine_id'].lower()
    return _machine.Machines(module.client).resolve(computer_dns_name=_machine.check_computer_dns_name(p['computer_dns_name']))


def finish(module, launcher, action, changed, must_wait, extra=None):
    """Wait when asked; a final status other than Succeeded fails the task with the action in the result."""
    p = module.params
    result = {'changed': changed, 'machine_action': ma.to_result(action) if action else None}
    if extra:
        result.update(extra)
    if action and (p['wait'] or must_wait) and not module.check_mode:
        try:
            action = launcher.actions.wait(action, p['wait_timeout'], module.settings.poll_interval)
        except MdeError as err:
            err.details = dict(result, **err.details)  # a launched action stays changed when the wait runs out
            raise
        result['machine_action'] = ma.to_result(action)
        if (action.get('status') or '').lower() != 'succeeded':
            raise MdeError('Machine action %s (%s) ended %s, not Succeeded.' % (action.get('id'), action.get('type'), action.get('status')),
                           kind='api', details=result)
    return action, result


def exit_launch(module, run):
    """Run a launching module's flow, turning every MdeError into a clear failure."""
    try:
        check_launch_options(module)
        result = run()
    except MdeError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


def run_action(module, spec, must_wait=False, after=None):
    """A plain launch (scan, quarantine, package, live response): reuse a running twin, else launch once."""
    from ansible_collections.defender.endpoint.plugins.module_utils import _launch  # pylint: disable=import-outside-toplevel
    launcher = _launch.Launcher(module.client)
    machine_id = resolve_machine(module)
    action, changed = launcher.launch(machine_id, spec, module.params['comment'], module.check_mode)
    action, result = finish(module, launcher, action, changed, must_wait)
    result['machine_id'] = machine_id
    if spec.max_age is not None:
        result['reused'] = launcher.reused
    if after is not None and action is not None and not module.check_mode:
        _fetch(action, result, after, 'To fetch them without starting a new %s, run the task with action_id: %s (and dest).'
               % (spec.describe, action.get('id')))
    return result


def run_existing(module, spec, after, present=None):
    """Fetch the results of an existing action (``action_id``) instead of launching one.

    Waits while it is Pending or InProgress; an action of another type, or one that ended other
    than Succeeded, fails. ``present(action)`` may return the result of a run that finds every
    file already there (nothing is downloaded).
    """
    from ansible_collections.defender.endpoint.plugins.module_utils import _launch  # pylint: disable=import-outside-toplevel
    launcher = _launch.Launcher(module.client)
    action = launcher.existing(module.params['action_id'], spec)
    result = {'changed': False, 'machine_action': ma.to_result(action), 'machine_id': action.get('machineId')}
    done = present(action) if present is not None else None
    if done is not None:
        result.update(done)
        return result
    status = action.get('status') or ''
    if ma.is_final(status) and status.lower() != 'succeeded':
        raise MdeError('Machine action %s (%s) ended %s: it has no results to fetch.' % (action.get('id'), action.get('type'), status),
                       kind='api', details=result)
    if module.check_mode:
        result['changed'] = True
        return result
    action, waited = finish(module, launcher, action, False, True)
    result.update(waited)
    _fetch(action, result, after, 'Running the task again tries again.')
    return result


def _fetch(action, result, after, hint):
    """Run ``after(action)`` (the downloads) into ``result``; a failure keeps the action and what is known in its result."""
    try:
        result.update(after(action))
    except MdeError as err:
        err.msg = join_sentences('Machine action %s (%s) %s, but fetching its results failed: %s' % (
            action.get('id'), action.get('type'), action.get('status'), err.msg), hint)
        err.args = (err.msg,)
        err.details = dict(result, **err.details)
        raise


def run_state(module, state):
    """A desired-state launch (``_launch.StateLaunch``): the result with ``state``, ``machine_id`` and the diff."""
    from ansible_collections.defender.endpoint.plugins.module_utils import _launch  # pylint: disable=import-outside-toplevel
    launcher = _launch.Launcher(module.client)
    machine_id = resolve_machine(module)
    outcome = launcher.ensure_state(machine_id, state, module.params['comment'], module.check_mode)
    action, result = finish(module, launcher, outcome.action, outcome.changed, False)
    result['machine_id'] = machine_id
    result['state'] = outcome.wanted
    if module._diff:
        current = outcome.current
        result['diff'] = {'before': {'state': outcome.before, 'action_id': current.get('id') if current else None},
                          'after': {'state': outcome.wanted, 'action_id': action.get('id') if action else None}}
    return result


# The modules --------------------------------------------------------------------------------------

def run_state_module(argument_spec, build):
    """A desired-state module: ``build(params)`` gives its ``_launch.StateLaunch``."""
    module = launch_module(argument_spec)
    exit_launch(module, lambda: run_state(module, build(module.params)))


def run_launch_module(argument_spec, build):
    """A one-shot launch module: ``build(params)`` gives its ``_launch.LaunchSpec`` (checking its own options)."""
    module = launch_module(argument_spec)
    exit_launch(module, lambda: run_action(module, build(module.params)))


def _downloads_of(module):
    from ansible_collections.defender.endpoint.plugins.module_utils import _downloads  # pylint: disable=import-outside-toplevel
    return _downloads.Downloads(module.client, module.settings.poll_interval)


def run_investigation_package():
    from ansible_collections.defender.endpoint.plugins.module_utils import _launch  # pylint: disable=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import _downloads  # pylint: disable=import-outside-toplevel
    module = launch_module(downloads=True)
    p = module.params
    spec = _launch.investigation_package()
    dest = None
    if p['dest']:
        try:
            dest = _downloads.check_dest(p['dest'])
        except MdeError as err:
            module.fail_from_error(err)

    def download(action):
        return _downloads_of(module).package(action, dest)

    def run():
        if dest and os.path.exists(dest) and not p['force']:
            return dict({'changed': False, 'machine_action': None}, **_downloads.present_file(dest))
        if p['action_id']:
            return dict(run_existing(module, spec, download), dest=dest)
        result = run_action(module, spec, must_wait=bool(dest), after=download if dest else None)
        if dest:
            result['dest'] = dest
            if module.check_mode:
                result['changed'] = True
        return result

    exit_launch(module, run)


def run_live_response(argument_spec, **kwargs):
    from ansible_collections.defender.endpoint.plugins.module_utils import _launch  # pylint: disable=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import _downloads  # pylint: disable=import-outside-toplevel
    module = launch_module(argument_spec, downloads=True, **kwargs)
    p = module.params
    try:
        commands = _downloads.check_commands(p['commands']) if not p['action_id'] else None
        dest = _downloads.check_dest(p['dest'], folder=True) if p['dest'] else None
    except MdeError as err:
        module.fail_from_error(err)
    spec = _launch.live_response(commands)

    def download(action):
        return _downloads_of(module).live_response_results(action, commands if commands is not None else _downloads.commands_of(action),
                                                           dest)

    def run():
        if p['action_id']:
            return run_existing(module, spec, download,
                                present=lambda action: _downloads.present_results(_downloads.commands_of(action), dest, p['force']))
        done = _downloads.present_results(commands, dest, p['force'])
        if done is not None:
            return dict(done, changed=False, machine_action=None)
        result = run_action(module, spec, must_wait=bool(dest), after=download if dest else None)
        if dest and module.check_mode:
            result['changed'] = True
        return result

    exit_launch(module, run)


def run_cancel(argument_spec, **kwargs):
    module = MdeModule(argument_spec=argument_spec, **kwargs)
    p = module.params
    try:
        ma.check_comment(p['comment'])
        if p['wait_timeout'] <= 0:
            raise config_error('wait_timeout must be a positive number of seconds, got %d.' % p['wait_timeout'])
        action_id = ma.check_action_id(p['id']) if p['id'] else None
        machine_id = ma.check_machine_id(p['machine_id']) if p['machine_id'] else None
        name = _machine.check_computer_dns_name(p['computer_dns_name']) if p['computer_dns_name'] else None
        if p['type'] and action_id:
            raise config_error('type filters the actions of a machine: it needs machine_id or computer_dns_name, not id. Drop type '
                               'to cancel the one action id names.')
    except MdeError as err:
        module.fail_from_error(err)

    actions = ma.MachineActions(module.client)
    try:
        if name:
            machine_id = _machine.Machines(module.client).resolve(computer_dns_name=name)
        targets = [actions.get(action_id)] if action_id else actions.cancellable(machine_id, p['type'])
    except MdeError as err:
        module.fail_from_error(err)
    run = ma.CancelRun(targets)
    try:
        actions.cancel_all(run, p['comment'], module.check_mode, wait=p['wait'], wait_timeout=p['wait_timeout'],
                           poll_interval=module.settings.poll_interval)
    except MdeError as err:
        module.fail_from_error(err, changed=run.changed, **({} if action_id else {'machine_actions': run.cancelled()}))

    result = {'changed': run.changed}
    if action_id:
        result['machine_action'] = ma.to_result(run.results[0][0])
    else:
        result['machine_actions'] = run.cancelled()
    if module._diff:
        result['diff'] = {'before': run.before, 'after': run.after}
    module.exit_json(**result)


def run_action_info(argument_spec, **kwargs):
    module = MdeModule(argument_spec=argument_spec, **kwargs)
    p = module.params
    try:
        if p['id'] is not None:
            action = ma.MachineActions(module.client).find(ma.check_action_id(p['id']))
            found = [action] if action else []
        else:
            machine_id = ma.check_machine_id(p['machine_id']) if p['machine_id'] else None
            created_after = ma.parse_timestamp(p['created_after'], 'created_after') if p['created_after'] else None
            if p['computer_dns_name']:
                machine_id = _machine.Machines(module.client).resolve(computer_dns_name=_machine.check_computer_dns_name(p['computer_dns_name']))
            odata_filter = ma.build_filter(
                machine_id=machine_id,
                statuses=p['status'], types=p['type'], requestor=p['requestor'],
                created_after=created_after)
            found = ma.MachineActions(module.client).list(odata_filter)
    except MdeError as err:
        module.fail_from_error(err)
    module.exit_json(changed=False, machine_actions=[ma.to_result(a) for a in found])


def run_machine_info(argument_spec, **kwargs):
    module = MdeModule(argument_spec=argument_spec, **kwargs)
    p = module.params
    try:
        found = _machine.Machines(module.client).search(
            machine_id=ma.check_machine_id(p['id'], 'id') if p['id'] else None,
            computer_dns_name=_machine.check_computer_dns_name(p['computer_dns_name']) if p['computer_dns_name'] else None,
            health_status=p['health_status'], os_platform=p['os_platform'], tag=p['tag'], risk_score=p['risk_score'],
            exposure_level=p['exposure_level'],
            ip_address=_machine.check_ip_address(p['ip_address']) if p['ip_address'] is not None else None,
            seen_at=_machine.check_seen_at(ma.parse_timestamp(p['seen_at'], 'seen_at') if p['seen_at'] is not None else None,
                                           time.time()) if p['ip_address'] is not None else None)
    except MdeError as err:
        module.fail_from_error(err)
    module.exit_json(changed=False, machines=[_machine.machine_result(m) for m in found])


def run_machine_tag(argument_spec, **kwargs):
    from ansible_collections.defender.endpoint.plugins.module_utils import _tags  # pylint: disable=import-outside-toplevel
    module = MdeModule(argument_spec=argument_spec, **kwargs)
    p = module.params
    present = p['state'] == 'present'
    try:
        tag = _tags.check_tag(p['tag'])
        machine_id, name = _tags.check_machine(p['machine_id'], p['computer_dns_name'])
        tags = _tags.MachineTags(module.client)
        machine = tags.machine(machine_id=machine_id, computer_dns_name=name)
        before = _tags.tags_of(machine)
        variants = _tags.case_variants(before, tag)
        if variants:
            module.warn('Machine %s has the tag(s) %s, which differ from "%s" only in letter case. MDE compares tags '
                        'case-sensitively, so they are left as they are.' % (machine['id'], ', '.join('"%s"' % v for v in variants), tag))
        after = _tags.wanted_tags(before, tag, present)
        changed = after != before
        if changed and not module.check_mode:
            machine = tags.change(machine, tag, present)
            after = _tags.tags_of(machine)
    except MdeError as err:
        module.fail_from_error(err)
    result = dict(changed=changed, machine=_machine.machine_result(machine), machine_id=machine['id'].lower(), machine_tags=after)
    if module._diff:
        result['diff'] = dict(before={'machine_tags': before}, after={'machine_tags': after})
    module.exit_json(**result)
