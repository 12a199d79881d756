// Mercato ops console (admin only), served at /ops/. Hash routes:
//   #/  service map    #/breakers    #/policies    #/faults    #/sagas  #/sagas/{orderId}    #/events    #/dead-letters

/** The Aspire dashboard (traces, logs, metrics). The AppHost prints its address at start. */
export const DASHBOARD_URL = 'http://localhost:18888';
const REFRESH_MS = 2000;
const SAGA_LIST_REFRESH_MS = 5000;

/** Services that keep dead letters, by the gateway path prefix their admin endpoints live under. */
const DEAD_LETTER_SOURCES = [
  { service: 'ordering', prefix: '/api/orders' },
  { service: 'payment', prefix: '/api/payments' },
  { service: 'inventory', prefix: '/api/inventory' },
  { service: 'notification', prefix: '/api/notifications' },
  { service: 'analytics', prefix: '/api/analytics' },
];

/**
 * Gateway:PathPrefixes (src/Gateway/appsettings.json): services whose public API is not under /api/{service}. Every
 * service serves its effective policies at /api/{service}/admin/policies; for these the console also tries the prefix.
 */
const PATH_PREFIXES = { ordering: '/api/orders', payment: '/api/payments', notification: '/api/notifications' };

/** Known services (AppHost), merged with what the registry and the policy document name. */
const KNOWN_SERVICES = ['analytics', 'basket', 'catalog', 'gateway', 'identity', 'inventory', 'notification', 'ordering', 'payment', 'registry'];

/** Integration event types in the analytics audit log (AuditHandler). */
const EVENT_TYPES = ['OrderSubmitted', 'PaymentCaptured', 'PaymentDeclined', 'PaymentRefunded', 'StockReserved', 'StockReservationFailed', 'OrderConfirmed', 'OrderCancelled'];

/** FaultPolicy (src/ServiceDefaults/Resilience/MeshPolicy.cs): rates are fractions 0–1, shown here in %. */
const FAULT_FIELDS = [
  { key: 'errorRate', label: 'Error rate (%)', kind: 'rate', group: 'http' },
  { key: 'errorStatus', label: 'Error status code', kind: 'int', group: 'http' },
  { key: 'latencyMs', label: 'Added latency (ms)', kind: 'int', group: 'http' },
  { key: 'latencyRate', label: 'Latency rate (%)', kind: 'rate', group: 'http' },
  { key: 'abortRate', label: 'Abort rate (%)', kind: 'rate', group: 'http' },
  { key: 'messageErrorRate', label: 'Handler error rate (%)', kind: 'rate', group: 'messages' },
  { key: 'messageLatencyMs', label: 'Handler latency (ms)', kind: 'int', group: 'messages' },
  { key: 'messageLatencyRate', label: 'Handler latency rate (%)', kind: 'rate', group: 'messages' },
];
const NO_FAULTS = {
  latencyMs: 0, latencyRate: 0, errorRate: 0, errorStatus: 503, abortRate: 0, messageErrorRate: 0, messageLatencyMs: 0, messageLatencyRate: 0,
};
const COMPENSATION_STEPS = new Set(['refund', 'release']);
const TERMINAL_STATUSES = ['Confirmed', 'Cancelled'];

import { ApiError, isAbort, problemOf, query, request, seg } from './api.js';
import { getSession, onAuthChange, signInForm, signOut } from './auth.js';
import {
  clear, clearErrors, createRouter, field, focusHeading, formatAge, formatDateTime, formatMoney, formatTime, formSummary, h,
  hashOf, isGuid, pageFrame, problemBox, setText, shortId, showProblem, syncRows, timeElement,
} from './dom.js';

const main = document.getElementById('main');
const nav = document.getElementById('ops-nav');
const accountArea = document.getElementById('account');
const flashRegion = document.getElementById('flash');
let session = getSession();
const router = createRouter(render);

// ---------------------------------------------------------------------------------------------------------------
// Shell

function renderAccount() {
  clear(accountArea);
  accountArea.append(h('a', { href: '/', 'data-testid': 'storefront-link' }, 'Storefront'));
  if (session) {
    accountArea.append(
      h('span', { class: 'signed-in', 'data-testid': 'signed-in-as', title: session.email }, 'Signed in as ', h('strong', {}, session.name || session.email)),
      h('button', {
        type: 'button', class: 'button button-secondary', 'data-testid': 'sign-out',
        onclick: () => {
          signOut();
          flash('You are signed out.');
          router.go('#/');
        },
      }, 'Sign out'));
  }
}

function markNav(route) {
  const section = route.segments[0] ?? '';
  for (const link of nav.querySelectorAll('a[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

const { show, flash } = pageFrame(main, flashRegion, 'Mercato ops');

function stamp(element) {
  setText(element, `Updated ${formatTime(new Date().toISOString())}`);
}

/** A refresh failed: keep the last data, say why. */
function showRefreshError(slot, error) {
  if (isAbort(error)) return;
  slot.replaceChildren(problemBox(problemOf(error), { testid: 'refresh-error' }));
}

// ---------------------------------------------------------------------------------------------------------------
// Gate: sign in, admin only

function signinGate(view) {
  // onAuthChange renders the console (or "Access denied").
  const form = signInForm(view, async () => {});
  show(view, 'Sign in', h('h1', {}, 'Ops console'), h('p', {}, 'Sign in with an administrator account.'), form);
}

function accessDenied(view) {
  show(view, 'Access denied',
    h('h1', { 'data-testid': 'access-denied' }, 'Access denied'),
    h('p', {}, 'The ops console is for administrators.'),
    h('p', {}, `You are signed in as ${session.name || session.email}. `, h('a', { href: '/' }, 'Back to the storefront'), '.'));
}

// ---------------------------------------------------------------------------------------------------------------
// Service map: GET /api/registry/services → [{name, healthyInstances, instances: [ServiceInstance]}]

/** Services seen since the console opened: one the registry stops listing shows as down instead of vanishing. */
const seenServices = new Map();

function serviceHealth(service) {
  const total = service.instances.length;
  if (total === 0) return 'down';
  if (service.healthyInstances >= total) return 'healthy';
  return service.healthyInstances === 0 ? 'unhealthy' : 'degraded';
}

async function servicesView(route, view) {
  const tbody = h('tbody');
  const updated = h('p', { class: 'muted', 'data-testid': 'last-updated' });
  const errorSlot = h('div');
  show(view, 'Service map',
    h('h1', {}, 'Service map'),
    h('p', { class: 'muted' }, 'Every registered instance with its health and last heartbeat, from the registry; refreshed every 2 s.'),
    errorSlot,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'service-map' },
      h('caption', { class: 'visually-hidden' }, 'Services and their instances'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Health'), h('th', { scope: 'col', class: 'num' }, 'Healthy'),
        h('th', { scope: 'col' }, 'Instances (id · address · version · status · last heartbeat)'))),
      tbody)),
    updated);

  await view.poll(async () => {
    try {
      const services = await request('/api/registry/services', { signal: view.signal });
      const now = Date.now();
      const listed = new Set();
      for (const service of services) {
        listed.add(service.name);
        seenServices.set(service.name, service);
      }
      for (const [name, last] of seenServices) {
        if (!listed.has(name)) seenServices.set(name, { ...last, healthyInstances: 0, instances: [] });
      }
      const rows = [...seenServices.values()].sort((a, b) => a.name.localeCompare(b.name));
      syncRows(tbody, rows, (s) => s.name, (service) => {
        const health = serviceHealth(service);
        return h('tr', { 'data-testid': 'service-row', 'data-service': service.name, 'data-health': health },
          h('th', { scope: 'row' }, service.name),
          h('td', { 'data-testid': 'service-health', class: `health health-${health}` }, health),
          h('td', { class: 'num', 'data-testid': 'service-healthy-count' }, `${service.healthyInstances}/${service.instances.length}`),
          h('td', {}, service.instances.length === 0
            ? h('span', { class: 'muted' }, 'No instance registered')
            : h('ul', { class: 'instance-list' }, service.instances.map((instance) => h('li', {
              'data-testid': 'instance', 'data-instance': instance.instanceId, 'data-status': instance.status,
            },
            h('code', {}, instance.instanceId), ' · ',
            h('span', {}, instance.address), ' · ',
            h('span', {}, `v${instance.version}`), ' · ',
            h('span', { class: `health health-${instance.status}`, 'data-testid': 'instance-status' }, instance.status), ' · ',
            'heartbeat ', timeElement(instance.lastHeartbeat, formatTime(instance.lastHeartbeat)),
            h('span', { class: 'muted' }, ` (${formatAge(instance.lastHeartbeat, now)})`))))));
      });
      errorSlot.replaceChildren();
      stamp(updated);
    } catch (error) {
      showRefreshError(errorSlot, error);
    }
  }, REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------------------------
// Breakers: GET /api/{service}/admin/policies → {service, instance, version, appliedAt, faults, targets, breakers}

const workingPolicyPath = new Map();

function policyPaths(service) {
  const paths = [`/api/${seg(service)}/admin/policies`];
  if (PATH_PREFIXES[service]) paths.push(`${PATH_PREFIXES[service]}/admin/policies`);
  const known = workingPolicyPath.get(service);
  return known ? [known, ...paths.filter((p) => p !== known)] : paths;
}

/** The instance's effective policies; tries the service-name path, then the gateway prefix (404 → next). */
async function fetchEffective(service, signal) {
  let last = null;
  for (const path of policyPaths(service)) {
    try {
      const data = await request(path, { signal });
      workingPolicyPath.set(service, path);
      return { path, data };
    } catch (error) {
      if (isAbort(error)) throw error;
      last = error;
      if (!(error instanceof ApiError) || error.status !== 404) break;
    }
  }
  throw last;
}

async function serviceNames(signal) {
  const names = new Set(['gateway']);
  try {
    for (const service of await request('/api/registry/services', { signal })) names.add(service.name);
  } catch (error) {
    if (isAbort(error)) throw error;
    for (const name of KNOWN_SERVICES) names.add(name);
  }
  for (const name of seenServices.keys()) names.add(name);
  return [...names].sort();
}

async function breakersView(route, view) {
  const tbody = h('tbody');
  const callersBody = h('tbody');
  const updated = h('p', { class: 'muted', 'data-testid': 'last-updated' });
  const errorSlot = h('div');
  show(view, 'Circuit breakers',
    h('h1', {}, 'Circuit breakers'),
    h('p', { class: 'muted' }, 'Each caller’s breaker per target service, as the answering instance reports it; refreshed every 2 s. ',
      h('span', { class: 'legend' },
        h('span', { class: 'state state-closed' }, 'Closed'), ' calls flow · ',
        h('span', { class: 'state state-open' }, 'Open'), ' calls fail fast · ',
        h('span', { class: 'state state-halfopen' }, 'HalfOpen'), ' one probe call decides')),
    errorSlot,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'breakers' },
      h('caption', { class: 'visually-hidden' }, 'Breaker state per caller and target'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Caller'), h('th', { scope: 'col' }, 'Target'), h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, 'Instance'))),
      tbody)),
    h('h2', {}, 'Callers'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'breaker-callers' },
      h('caption', { class: 'visually-hidden' }, 'Where each service’s effective policies were read'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Answered by'), h('th', { scope: 'col', class: 'num' }, 'Policy version'),
        h('th', { scope: 'col' }, 'Applied'), h('th', { scope: 'col' }, 'Read from'))),
      callersBody)),
    updated);

  await view.poll(async () => {
    try {
      const names = await serviceNames(view.signal);
      const results = await Promise.all(names.map(async (service) => {
        try {
          return { service, ...(await fetchEffective(service, view.signal)) };
        } catch (error) {
          if (isAbort(error)) throw error;
          return { service, error };
        }
      }));
      const rows = [];
      for (const result of results) {
        if (!result.data) continue;
        for (const [target, state] of Object.entries(result.data.breakers ?? {})) {
          rows.push({ caller: result.service, target, state, instance: result.data.instance });
        }
      }
      rows.sort((a, b) => a.caller.localeCompare(b.caller) || a.target.localeCompare(b.target));
      syncRows(tbody, rows, (r) => `${r.caller}→${r.target}`, (r) => h('tr', {
        'data-testid': 'breaker-row', 'data-caller': r.caller, 'data-target': r.target, 'data-state': r.state,
      },
      h('th', { scope: 'row' }, r.caller),
      h('td', {}, r.target),
      h('td', { 'data-testid': 'breaker-state', class: `state state-${String(r.state).toLowerCase()}` }, r.state),
      h('td', {}, h('code', {}, r.instance ?? ''))));
      syncRows(callersBody, results, (r) => r.service, (r) => h('tr', { 'data-testid': 'breaker-caller', 'data-service': r.service, 'data-ok': r.data ? 'true' : 'false' },
        h('th', { scope: 'row' }, r.service),
        r.data
          ? [h('td', {}, h('code', {}, r.data.instance)), h('td', { class: 'num' }, r.data.version),
            h('td', {}, r.data.appliedAt ? formatTime(r.data.appliedAt) : 'built-in defaults'),
            h('td', {}, h('code', {}, r.path), Object.keys(r.data.breakers ?? {}).length === 0 ? h('span', { class: 'muted' }, ' (no outgoing calls)') : null)]
          : [h('td', { colspan: '4', class: 'error-text' }, unreachableText(r))]));
      errorSlot.replaceChildren();
      stamp(updated);
    } catch (error) {
      showRefreshError(errorSlot, error);
    }
  }, REFRESH_MS);
}

function unreachableText(result) {
  const problem = problemOf(result.error);
  if (result.error instanceof ApiError && result.error.status === 404) {
    return `Not reachable through the gateway (404 at ${policyPaths(result.service).join(' and ')}).`;
  }
  return `${problem.status ? `${problem.status} ` : ''}${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Policies: GET/PUT /api/registry/policies (the MeshPolicy document)

/** "…at position 42…" → line and column in text. */
function jsonErrorWhere(message, text) {
  if (/line \d+/i.test(message)) return '';
  const match = /position (\d+)/i.exec(message);
  if (!match) return '';
  const position = Number(match[1]);
  const before = text.slice(0, position).split('\n');
  return ` (line ${before.length}, column ${before[before.length - 1].length + 1})`;
}

async function policiesView(route, view) {
  const textarea = h('textarea', {
    id: 'policy-json', name: 'policy', rows: '28', spellcheck: 'false', autocomplete: 'off', class: 'code-input',
    'data-testid': 'policy-json', 'aria-describedby': 'policy-json-error policy-json-hint',
  });
  const version = h('strong', { 'data-testid': 'policy-version' }, '…');
  const result = h('p', { role: 'status', class: 'result', 'data-testid': 'policy-result' });
  const errorList = h('ul', { 'data-testid': 'policy-errors', class: 'error-list' });
  const errorTitle = h('p', { class: 'summary-title' });
  const errorBox = h('div', { id: 'policy-json-error', class: 'notice notice-error', role: 'alert', hidden: true }, errorTitle, errorList);
  const apply = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'apply-policy' }, 'Validate & apply');
  const reload = h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'reload-policy' }, 'Reload');
  const form = h('form', { class: 'form', novalidate: true, 'data-testid': 'policy-form' },
    h('div', { class: 'field' },
      h('label', { for: 'policy-json' }, 'Policy document (JSON)'),
      h('p', { id: 'policy-json-hint', class: 'field-hint' },
        'The whole document: gateway rate limits and, per target service, timeouts, retry, circuit breaker, bulkhead, rate limit, routing and faults. ',
        'A refused document leaves the one in force unchanged.'),
      textarea),
    errorBox,
    h('div', { class: 'form-actions' }, apply, reload),
    result);

  const showErrors = (title, entries) => {
    setText(errorTitle, title);
    errorList.replaceChildren(...entries.map(([path, messages]) => h('li', { 'data-path': path }, h('code', {}, path), `: ${messages.join(' ')}`)));
    errorBox.hidden = false;
    textarea.setAttribute('aria-invalid', 'true');
  };
  const hideErrors = () => {
    errorBox.hidden = true;
    errorList.replaceChildren();
    textarea.removeAttribute('aria-invalid');
  };
  const load = async () => {
    hideErrors();
    setText(result, '');
    try {
      const document = await request('/api/registry/policies', { signal: view.signal });
      textarea.value = JSON.stringify(document, null, 2);
      setText(version, document.version);
    } catch (error) {
      if (isAbort(error)) return;
      const problem = problemOf(error);
      showErrors(`Could not load the policy document: ${problem.title}`, Object.entries(problem.errors));
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hideErrors();
    setText(result, '');
    const text = textarea.value;
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      showErrors('Not valid JSON; nothing was sent', [['$', [`${error.message}${jsonErrorWhere(error.message, text)}`]]]);
      textarea.focus();
      return;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      showErrors('Not a policy document; nothing was sent', [['$', ['The document must be a JSON object.']]]);
      return;
    }
    apply.disabled = true;
    try {
      const accepted = await request('/api/registry/policies', { method: 'PUT', body: text, signal: view.signal });
      textarea.value = JSON.stringify(accepted, null, 2);
      setText(version, accepted.version);
      setText(result, `Applied: version ${accepted.version} is in force at the control plane; instances pick it up within about 2 s.`);
    } catch (error) {
      if (isAbort(error)) return;
      const problem = problemOf(error);
      const entries = Object.entries(problem.errors);
      showErrors(problem.title, entries.length ? entries : [['$', [problem.detail ?? `HTTP ${problem.status}`]]]);
    } finally {
      apply.disabled = false;
    }
  });
  reload.addEventListener('click', load);

  show(view, 'Policies',
    h('h1', {}, 'Policy document'),
    h('p', {}, 'Version in force: ', version),
    form);
  await load();
}

// ---------------------------------------------------------------------------------------------------------------
// Faults: edits targets.{service}.faults of the policy document, PUTs the whole document

function toPercent(rate) {
  return Number((Number(rate || 0) * 100).toFixed(4));
}

function faultSummary(faults) {
  const parts = [];
  if (faults.errorRate > 0) parts.push(`errors ${toPercent(faults.errorRate)} % (HTTP ${faults.errorStatus})`);
  if (faults.latencyRate > 0 && faults.latencyMs > 0) parts.push(`latency ${faults.latencyMs} ms on ${toPercent(faults.latencyRate)} %`);
  if (faults.abortRate > 0) parts.push(`aborts ${toPercent(faults.abortRate)} %`);
  if (faults.messageErrorRate > 0) parts.push(`handler errors ${toPercent(faults.messageErrorRate)} %`);
  if (faults.messageLatencyRate > 0 && faults.messageLatencyMs > 0) parts.push(`handler latency ${faults.messageLatencyMs} ms on ${toPercent(faults.messageLatencyRate)} %`);
  return parts.join(', ');
}

async function faultsView(route, view) {
  let documentInForce = null;
  const select = h('select', { id: 'service', name: 'service', 'data-testid': 'fault-service' });
  const inputs = Object.fromEntries(FAULT_FIELDS.map((f) => [f.key, h('input', {
    id: f.key, name: f.key, type: 'number', min: '0', step: f.kind === 'rate' ? 'any' : '1', inputmode: 'decimal', class: 'input-narrow',
    max: f.kind === 'rate' ? '100' : undefined, 'data-testid': `fault-${f.key}`,
  })]));
  const fieldFor = (f) => field({ id: f.key, label: f.label, control: inputs[f.key] });
  const versionText = h('strong', { 'data-testid': 'policy-version' }, '…');
  const result = h('p', { role: 'status', class: 'result', 'data-testid': 'faults-result' });
  const applyButton = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'apply-faults' }, 'Apply faults');
  const clearServiceButton = h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'clear-service-faults' }, 'Clear this service’s faults');
  const clearAllButton = h('button', { type: 'button', class: 'button button-danger', 'data-testid': 'clear-faults' }, 'Clear all faults');
  const form = h('form', { class: 'form', novalidate: true, 'data-testid': 'faults-form' },
    formSummary(),
    field({ id: 'service', label: 'Service', control: select }),
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Inbound HTTP requests'), h('div', { class: 'field-grid' }, FAULT_FIELDS.filter((f) => f.group === 'http').map(fieldFor))),
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Message handlers'), h('div', { class: 'field-grid' }, FAULT_FIELDS.filter((f) => f.group === 'messages').map(fieldFor))),
    h('div', { class: 'form-actions' }, applyButton, clearServiceButton, clearAllButton),
    result);
  const inForceBody = h('tbody');
  const loadError = h('div');

  const fill = () => {
    const faults = { ...NO_FAULTS, ...(documentInForce?.targets?.[select.value]?.faults ?? {}) };
    for (const f of FAULT_FIELDS) inputs[f.key].value = String(f.kind === 'rate' ? toPercent(faults[f.key]) : faults[f.key]);
    clearErrors(form);
  };
  const drawInForce = () => {
    const targets = Object.entries(documentInForce?.targets ?? {}).sort(([a], [b]) => a.localeCompare(b));
    syncRows(inForceBody, targets, ([name]) => name, ([name, target]) => {
      const summary = faultSummary({ ...NO_FAULTS, ...(target.faults ?? {}) });
      return h('tr', { 'data-testid': 'fault-row', 'data-service': name, 'data-active': summary ? 'true' : 'false' },
        h('th', { scope: 'row' }, name),
        h('td', { class: summary ? 'error-text' : 'muted' }, summary || 'none'));
    });
  };
  const load = async () => {
    const [document, names] = await Promise.all([
      request('/api/registry/policies', { signal: view.signal }),
      serviceNames(view.signal),
    ]);
    documentInForce = document;
    setText(versionText, document.version);
    const all = [...new Set([...names, ...KNOWN_SERVICES, ...Object.keys(document.targets ?? {})])].sort();
    const selected = select.value || route.query.get('service') || all[0];
    select.replaceChildren(...all.map((name) => h('option', { value: name, selected: name === selected }, name)));
    select.value = selected;
    fill();
    drawInForce();
  };

  /** Reads the document in force now, lets change() edit it, PUTs it whole. */
  const putDocument = async (change, buttons) => {
    buttons.forEach((b) => { b.disabled = true; });
    setText(result, '');
    try {
      const fresh = await request('/api/registry/policies', { signal: view.signal });
      fresh.targets ??= {};
      change(fresh);
      const accepted = await request('/api/registry/policies', { method: 'PUT', body: fresh, signal: view.signal });
      documentInForce = accepted;
      setText(versionText, accepted.version);
      drawInForce();
      return accepted;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };

  select.addEventListener('change', fill);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const service = select.value;
    const faults = {};
    const errors = {};
    for (const f of FAULT_FIELDS) {
      const text = inputs[f.key].value.trim();
      const number = text === '' ? 0 : Number(text);
      if (!Number.isFinite(number)) {
        errors[f.key] = ['Enter a number.'];
      } else if (f.kind === 'rate') {
        if (number < 0 || number > 100) errors[f.key] = ['Between 0 and 100 %.'];
        faults[f.key] = Number((number / 100).toFixed(6));
      } else {
        faults[f.key] = number; // ranges are the server's to check
      }
    }
    if (Object.keys(errors).length) {
      showProblem(form, { title: 'Check the highlighted fields; nothing was sent.', errors, status: 0 })?.focus();
      return;
    }
    try {
      const accepted = await putDocument((document) => {
        document.targets[service] = { ...(document.targets[service] ?? {}), faults };
      }, [applyButton, clearServiceButton, clearAllButton]);
      fill();
      setText(result, `Faults for ${service} applied: policy version ${accepted.version}.`);
    } catch (error) {
      if (!isAbort(error)) showProblem(form, problemOf(error))?.focus();
    }
  });
  clearServiceButton.addEventListener('click', async () => {
    clearErrors(form);
    const service = select.value;
    try {
      const accepted = await putDocument((document) => {
        if (document.targets[service]) document.targets[service].faults = { ...NO_FAULTS };
      }, [applyButton, clearServiceButton, clearAllButton]);
      fill();
      setText(result, `Faults for ${service} cleared: policy version ${accepted.version}.`);
    } catch (error) {
      if (!isAbort(error)) showProblem(form, problemOf(error));
    }
  });
  clearAllButton.addEventListener('click', async () => {
    clearErrors(form);
    try {
      const accepted = await putDocument((document) => {
        for (const target of Object.values(document.targets)) {
          if (target) target.faults = { ...NO_FAULTS };
        }
      }, [applyButton, clearServiceButton, clearAllButton]);
      fill();
      setText(result, `All faults cleared: policy version ${accepted.version}.`);
    } catch (error) {
      if (!isAbort(error)) showProblem(form, problemOf(error));
    }
  });

  show(view, 'Fault injection',
    h('h1', {}, 'Fault injection'),
    h('p', { class: 'muted' }, 'Chaos a service injects into what it receives: errors, latency and aborted connections on HTTP requests, errors and delays in message handlers. ',
      'Saved in the policy document (version in force: ', versionText, ').'),
    loadError,
    form,
    h('h2', {}, 'Faults in force'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'faults-in-force' },
      h('caption', { class: 'visually-hidden' }, 'Faults per service in the policy document'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Faults'))),
      inForceBody)));
  try {
    await load();
  } catch (error) {
    showRefreshError(loadError, error);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sagas: recent orders from the analytics audit log (+ the admin's own orders), one order's saga in detail

const WINDOWS = [
  { value: '10', label: 'Last 10 minutes' },
  { value: '60', label: 'Last hour' },
  { value: '1440', label: 'Last 24 hours' },
];

function sagasFromEvents(events) {
  const orders = new Map();
  for (const event of events) {
    if (!event.orderId) continue;
    const order = orders.get(event.orderId) ?? { id: event.orderId, events: 0, outcome: 'Pending', compensations: [] };
    order.events += 1;
    const data = event.data ?? {};
    switch (event.type) {
      case 'OrderSubmitted':
        order.submittedAt = event.occurredAt;
        order.customerId = data.customerId;
        order.total = data.total;
        break;
      case 'OrderConfirmed':
        order.outcome = 'Confirmed';
        order.total ??= data.total;
        break;
      case 'OrderCancelled':
        order.outcome = 'Cancelled';
        order.reason = data.reason;
        break;
      case 'PaymentRefunded':
        order.compensations.push('refunded');
        break;
      default:
        break;
    }
    order.lastAt = event.occurredAt;
    orders.set(event.orderId, order);
  }
  return orders;
}

async function sagasView(route, view) {
  const windowMinutes = WINDOWS.some((w) => w.value === route.query.get('window')) ? route.query.get('window') : '60';
  const lookup = h('form', { class: 'form inline-form', novalidate: true, 'data-testid': 'saga-lookup' },
    field({ id: 'orderId', label: 'Order id', attrs: { placeholder: '00000000-0000-0000-0000-000000000000', class: 'input-wide', autocomplete: 'off' } }),
    h('button', { type: 'submit', class: 'button' }, 'Show saga'),
    formSummary());
  lookup.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = lookup.elements.orderId.value.trim();
    if (!value) {
      showProblem(lookup, { title: 'Enter an order id.', errors: { orderId: ['Required.'] }, status: 0 });
      return;
    }
    router.go(`#/sagas/${seg(value)}`);
  });
  const windowSelect = h('select', { id: 'window', name: 'window' }, WINDOWS.map((w) => h('option', { value: w.value, selected: w.value === windowMinutes }, w.label)));
  windowSelect.addEventListener('change', () => router.go(hashOf('/sagas', { window: windowSelect.value })));
  const tbody = h('tbody');
  const updated = h('p', { class: 'muted', 'data-testid': 'last-updated' });
  const errorSlot = h('div');
  const empty = h('p', { class: 'muted', 'data-testid': 'no-sagas', hidden: true }, 'No orders in this window.');

  show(view, 'Sagas',
    h('h1', {}, 'Order sagas'),
    lookup,
    h('h2', {}, 'Recent orders'),
    h('p', { class: 'muted' },
      'From the analytics audit log of integration events (every customer’s orders), plus your own orders. ',
      'The ordering API lists only the caller’s orders, even for an admin.'),
    h('div', { class: 'field inline-field' }, h('label', { for: 'window' }, 'Window'), windowSelect),
    errorSlot,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'sagas' },
      h('caption', { class: 'visually-hidden' }, 'Recent orders'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Submitted'), h('th', { scope: 'col' }, 'Customer'),
        h('th', { scope: 'col', class: 'num' }, 'Total'), h('th', { scope: 'col' }, 'Outcome'), h('th', { scope: 'col' }, 'Compensation'),
        h('th', { scope: 'col', class: 'num' }, 'Events'))),
      tbody)),
    empty,
    updated);

  await view.poll(async () => {
    const from = new Date(Date.now() - Number(windowMinutes) * 60_000).toISOString();
    const [audit, own] = await Promise.allSettled([
      // Newest first: past the limit, the list keeps the latest orders.
      request(`/api/analytics/events${query({ from, limit: 1000, order: 'desc' })}`, { signal: view.signal }),
      request('/api/orders', { signal: view.signal }),
    ]);
    if (!view.alive) return;
    const sagas = audit.status === 'fulfilled' ? sagasFromEvents(audit.value) : new Map();
    if (own.status === 'fulfilled') {
      for (const order of own.value) {
        const known = sagas.get(order.id) ?? { id: order.id, events: 0, compensations: [] };
        sagas.set(order.id, {
          ...known, submittedAt: order.createdAt, customerId: order.customerId, total: order.total, outcome: order.status,
          reason: order.cancellationReason ?? known.reason,
        });
      }
    }
    const problems = [audit, own].filter((r) => r.status === 'rejected' && !isAbort(r.reason));
    errorSlot.replaceChildren(...problems.map((r) => problemBox(problemOf(r.reason), { testid: 'refresh-error' })));
    const rows = [...sagas.values()].sort((a, b) => String(b.submittedAt ?? b.lastAt ?? '').localeCompare(String(a.submittedAt ?? a.lastAt ?? '')));
    empty.hidden = rows.length > 0;
    syncRows(tbody, rows.slice(0, 200), (s) => s.id, (saga) => h('tr', { 'data-testid': 'saga-row', 'data-order-id': saga.id, 'data-outcome': saga.outcome },
      h('th', { scope: 'row' }, h('a', { href: `#/sagas/${seg(saga.id)}`, title: saga.id }, shortId(saga.id))),
      h('td', {}, saga.submittedAt ? timeElement(saga.submittedAt) : '—'),
      h('td', {}, saga.customerId ? h('code', { title: saga.customerId }, shortId(saga.customerId)) : '—'),
      h('td', { class: 'num' }, saga.total !== undefined ? formatMoney(saga.total) : '—'),
      h('td', {}, h('span', { class: `status status-${String(saga.outcome).toLowerCase()}`, 'data-testid': 'saga-outcome', title: saga.reason ?? '' }, saga.outcome)),
      h('td', {}, saga.compensations.length ? saga.compensations.join(', ') : ''),
      h('td', { class: 'num' }, saga.events)));
    stamp(updated);
  }, SAGA_LIST_REFRESH_MS);
}

function jsonDetails(value) {
  return h('details', {}, h('summary', {}, 'Data'), h('pre', { class: 'code' }, JSON.stringify(value, null, 2)));
}

async function sagaView(route, view) {
  const id = route.segments[1];
  const status = h('span', { 'data-testid': 'order-status' }, '…');
  const reasonSlot = h('div');
  const summary = h('p', { class: 'muted' });
  const stepsBody = h('tbody');
  const eventsBody = h('tbody');
  const auditBody = h('tbody');
  const paymentsBody = h('tbody');
  const errorSlot = h('div');
  const updated = h('p', { class: 'muted', 'data-testid': 'last-updated' });
  const noPayments = h('p', { class: 'muted', hidden: true }, 'No payment recorded for this order.');

  show(view, `Saga ${shortId(id)}`,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/sagas' }, '← Sagas')),
    h('h1', {}, `Saga of order ${shortId(id)}`),
    h('p', {}, 'Order id ', h('code', { 'data-testid': 'order-id' }, id)),
    h('div', { class: 'status-region', 'aria-live': 'polite', 'data-testid': 'order-status-region' },
      h('p', { class: 'status-line' }, 'Status: ', status), reasonSlot),
    summary,
    h('p', {}, h('a', { href: `${DASHBOARD_URL}/traces`, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'trace-link' },
      'Traces in the Aspire dashboard'), h('span', { class: 'muted' }, ` — search for the order id ${id}.`)),
    errorSlot,
    h('h2', {}, 'Steps'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'saga-steps' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Step'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col', class: 'num' }, 'Since submit'), h('th', { scope: 'col' }, 'Detail'))),
      stepsBody)),
    h('h2', {}, 'Order event stream'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'order-events' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, 'Version'), h('th', { scope: 'col' }, 'Event'), h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Data'))),
      eventsBody)),
    h('h2', {}, 'Integration events (audit log)'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'saga-audit' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Time'),
        h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Data'))),
      auditBody)),
    h('h2', {}, 'Payments'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'saga-payments' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Payment'), h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Time'))),
      paymentsBody)),
    noPayments,
    updated);

  await view.poll(async () => {
    const [order, events, audit, payments] = await Promise.allSettled([
      request(`/api/orders/${seg(id)}`, { signal: view.signal }),
      request(`/api/orders/${seg(id)}/events`, { signal: view.signal }),
      isGuid(id) ? request(`/api/analytics/events${query({ orderId: id, limit: 1000 })}`, { signal: view.signal }) : Promise.resolve([]),
      isGuid(id) ? request(`/api/payments${query({ orderId: id })}`, { signal: view.signal }) : Promise.resolve([]),
    ]);
    if (!view.alive) return;
    const problems = [['Order', order], ['Event stream', events], ['Audit log', audit], ['Payments', payments]]
      .filter(([, r]) => r.status === 'rejected' && !isAbort(r.reason))
      .map(([label, r]) => {
        const problem = problemOf(r.reason);
        return problemBox({ ...problem, title: `${label}: ${problem.title}` }, { testid: 'refresh-error' });
      });
    errorSlot.replaceChildren(...problems);

    if (order.status === 'fulfilled') {
      const o = order.value;
      setText(status, o.status);
      status.className = `status status-${String(o.status).toLowerCase()}`;
      if (o.cancellationReason) {
        const existing = reasonSlot.querySelector('[data-testid="order-reason"]');
        if (existing) setText(existing, o.cancellationReason);
        else reasonSlot.replaceChildren(h('p', {}, 'Cancellation reason: ', h('span', { 'data-testid': 'order-reason' }, o.cancellationReason)));
      }
      setText(summary, `Customer ${o.customerId} · ${(o.items ?? []).length} line(s) · total ${formatMoney(o.total)} · payment ${o.paymentMethod} · placed ${formatDateTime(o.createdAt)}`);
      const submitted = new Date(o.createdAt).getTime();
      syncRows(stepsBody, o.steps ?? [], (s) => s.name, (step) => {
        const compensation = COMPENSATION_STEPS.has(step.name);
        const since = new Date(step.at).getTime() - submitted;
        return h('tr', { 'data-testid': 'saga-step', 'data-step': step.name, 'data-status': step.status, class: compensation ? 'row-compensation' : '' },
          h('th', { scope: 'row' }, step.name),
          h('td', {}, compensation ? h('span', { class: 'tag tag-compensation' }, 'compensation') : step.name === 'cancellation' ? h('span', { class: 'tag tag-cancel' }, 'outcome') : 'forward'),
          h('td', {}, h('span', { class: `step step-${step.status}` }, step.status)),
          h('td', {}, timeElement(step.at, formatTime(step.at))),
          h('td', { class: 'num' }, Number.isFinite(since) ? `+${since} ms` : ''),
          h('td', {}, step.detail ?? ''));
      });
    } else if (order.reason instanceof ApiError && order.reason.status === 404) {
      setText(status, 'Not found');
      status.className = 'status status-cancelled';
    }
    if (events.status === 'fulfilled') {
      syncRows(eventsBody, events.value, (e) => e.version, (e) => h('tr', { 'data-testid': 'order-event', 'data-type': e.type },
        h('td', { class: 'num' }, e.version),
        h('th', { scope: 'row' }, e.type),
        h('td', {}, timeElement(e.occurredAt, formatTime(e.occurredAt))),
        h('td', {}, jsonDetails(e.data))), { immutable: true });
    }
    if (audit.status === 'fulfilled') {
      syncRows(auditBody, audit.value, (e) => e.sequence, (e) => h('tr', { 'data-testid': 'audit-event', 'data-type': e.type },
        h('td', { class: 'num' }, e.sequence),
        h('th', { scope: 'row' }, e.type),
        h('td', {}, timeElement(e.occurredAt, formatTime(e.occurredAt))),
        h('td', {}, e.source ?? ''),
        h('td', {}, jsonDetails(e.data))), { immutable: true });
    }
    if (payments.status === 'fulfilled') {
      noPayments.hidden = payments.value.length > 0;
      syncRows(paymentsBody, payments.value, (p) => p.id, (p) => h('tr', { 'data-testid': 'payment-row', 'data-status': p.status },
        h('th', { scope: 'row' }, h('code', { title: p.id }, shortId(p.id))),
        h('td', { class: 'num' }, formatMoney(p.amount)),
        h('td', {}, p.status),
        h('td', {}, p.reason ?? ''),
        h('td', {}, timeElement(p.createdAt))));
    }
    stamp(updated);
  }, REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------------------------
// Event log: GET /api/analytics/events?type=&orderId=&from=&to=&limit=

/** datetime-local value ("2025-01-02T03:04") → ISO instant, or the text as typed (the API then names the field). */
function toInstant(value) {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

async function eventsView(route, view) {
  const params = {
    type: route.query.get('type') ?? '',
    orderId: route.query.get('orderId') ?? '',
    from: route.query.get('from') ?? '',
    to: route.query.get('to') ?? '',
    limit: route.query.get('limit') ?? '200',
  };
  const form = h('form', { class: 'form filter-form', novalidate: true, 'data-testid': 'event-filters' },
    h('div', { class: 'field-grid' },
      field({ id: 'type', label: 'Type', attrs: { list: 'event-types', value: params.type, autocomplete: 'off' } }),
      field({ id: 'orderId', label: 'Order id', attrs: { value: params.orderId, autocomplete: 'off', class: 'input-wide' } }),
      field({ id: 'from', label: 'From', type: 'datetime-local', attrs: { value: params.from, step: '1' } }),
      field({ id: 'to', label: 'To', type: 'datetime-local', attrs: { value: params.to, step: '1' } }),
      field({ id: 'limit', label: 'At most', type: 'number', attrs: { value: params.limit, min: '1', max: '1000', class: 'input-narrow' } })),
    h('datalist', { id: 'event-types' }, EVENT_TYPES.map((t) => h('option', { value: t }))),
    formSummary(),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'apply-filters' }, 'Show events'),
      h('a', { href: '#/events', class: 'button button-secondary' }, 'Reset')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = Object.fromEntries(['type', 'orderId', 'from', 'to', 'limit'].map((k) => [k, form.elements[k].value.trim()]));
    router.go(hashOf('/events', values));
  });
  const tbody = h('tbody');
  const count = h('p', { class: 'muted', 'data-testid': 'event-count', role: 'status' });
  show(view, 'Event log',
    h('h1', {}, 'Event log'),
    h('p', { class: 'muted' }, 'The analytics audit log of integration events, oldest first.'),
    form,
    count,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'events' },
      h('caption', { class: 'visually-hidden' }, 'Integration events'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Order'),
        h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Data'))),
      tbody)));

  try {
    const events = await request(`/api/analytics/events${query({
      type: params.type, orderId: params.orderId, from: toInstant(params.from), to: toInstant(params.to), limit: params.limit,
    })}`, { signal: view.signal });
    setText(count, `${events.length} event${events.length === 1 ? '' : 's'}${events.length >= Number(params.limit) ? ` (the first ${params.limit}; narrow the filters or raise the limit)` : ''}.`);
    syncRows(tbody, events, (e) => e.sequence, (e) => h('tr', { 'data-testid': 'event-row', 'data-type': e.type, 'data-order-id': e.orderId },
      h('td', { class: 'num' }, e.sequence),
      h('th', { scope: 'row' }, e.type),
      h('td', {}, e.orderId ? h('a', { href: `#/sagas/${seg(e.orderId)}`, title: e.orderId }, shortId(e.orderId)) : ''),
      h('td', {}, timeElement(e.occurredAt)),
      h('td', {}, e.source ?? ''),
      h('td', {}, jsonDetails(e.data))), { immutable: true });
  } catch (error) {
    if (isAbort(error)) return;
    showProblem(form, problemOf(error));
    setText(count, '');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Dead letters: GET {prefix}/admin/dead-letters?page&pageSize, POST {prefix}/admin/dead-letters/replay {ids}

const DEAD_LETTER_PAGE_SIZE = 500;
const DEAD_LETTER_PAGES = 10;

// A service's dead letters, page after page until a short one: at most DEAD_LETTER_PAGES pages, so a flood of them
// cannot freeze the page; `more` says some were left unlisted.
async function allDeadLetters(source, signal) {
  const items = [];
  for (let page = 1; page <= DEAD_LETTER_PAGES; page++) {
    const batch = await request(`${source.prefix}/admin/dead-letters${query({ page, pageSize: DEAD_LETTER_PAGE_SIZE })}`, { signal });
    items.push(...batch);
    if (batch.length < DEAD_LETTER_PAGE_SIZE) return { items, more: false };
  }
  // Every page full: one more letter beyond them says whether some were left out.
  const beyond = await request(`${source.prefix}/admin/dead-letters${query({ page: DEAD_LETTER_PAGES * DEAD_LETTER_PAGE_SIZE + 1, pageSize: 1 })}`, { signal });
  return { items, more: beyond.length > 0 };
}

async function deadLettersView(route, view) {
  const tbody = h('tbody');
  const errorSlot = h('div');
  const result = h('p', { role: 'status', class: 'result', 'data-testid': 'replay-result' });
  const empty = h('p', { class: 'muted', 'data-testid': 'no-dead-letters', hidden: true }, 'No dead letters: every message was handled.');
  const selectAll = h('input', { type: 'checkbox', id: 'select-all', 'data-testid': 'select-all' });
  const replayButton = h('button', { type: 'button', class: 'button button-primary', 'data-testid': 'replay-selected', disabled: true }, 'Replay selected');
  const refreshButton = h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'refresh-dead-letters' }, 'Refresh');
  const updated = h('p', { class: 'muted', 'data-testid': 'last-updated' });

  const checkboxes = () => [...tbody.querySelectorAll('input[type="checkbox"]')];
  const updateButtons = () => {
    const boxes = checkboxes();
    const selected = boxes.filter((b) => b.checked).length;
    replayButton.disabled = selected === 0;
    setText(replayButton, selected ? `Replay selected (${selected})` : 'Replay selected');
    selectAll.checked = boxes.length > 0 && selected === boxes.length;
    selectAll.indeterminate = selected > 0 && selected < boxes.length;
  };
  selectAll.addEventListener('change', () => {
    for (const box of checkboxes()) box.checked = selectAll.checked;
    updateButtons();
  });

  const load = async () => {
    const results = await Promise.all(DEAD_LETTER_SOURCES.map(async (source) => {
      try {
        return { source, ...await allDeadLetters(source, view.signal) };
      } catch (error) {
        if (isAbort(error)) throw error;
        return { source, error };
      }
    }));
    const checked = new Set(checkboxes().filter((b) => b.checked).map((b) => b.value));
    // holder: the service that keeps the dead letter; item.source: the service that sent the message (Wolverine).
    const rows = results.flatMap((r) => (r.items ?? []).map((item) => ({ item, holder: r.source })))
      .sort((a, b) => String(b.item.sentAt).localeCompare(String(a.item.sentAt)));
    tbody.replaceChildren(...rows.map(({ item, holder }) => {
      const key = `${holder.service}:${item.id}`;
      const boxId = `dl-${holder.service}-${item.id}`;
      const box = h('input', { type: 'checkbox', id: boxId, value: key, checked: checked.has(key), 'data-testid': 'dead-letter-select' });
      box.addEventListener('change', updateButtons);
      return h('tr', {
        'data-testid': 'dead-letter-row', 'data-service': holder.service, 'data-id': item.id, 'data-message-type': item.messageType,
      },
      h('td', {}, box, h('label', { for: boxId, class: 'visually-hidden' }, `Select ${item.messageType} ${item.id}`)),
      h('td', {}, holder.service),
      h('th', { scope: 'row' }, h('code', {}, item.messageType)),
      h('td', { 'data-testid': 'dead-letter-reason' }, h('span', { class: 'error-text' }, item.exceptionType), h('br'), item.exceptionMessage),
      h('td', {}, item.source ?? ''),
      h('td', {}, timeElement(item.sentAt)),
      h('td', {}, item.replayable ? 'queued for replay' : 'no'));
    }));
    errorSlot.replaceChildren(...results.filter((r) => r.error).map((r) => {
      const problem = problemOf(r.error);
      return problemBox({ ...problem, title: `${r.source.service} (${r.source.prefix}): ${problem.title}` }, { testid: 'refresh-error' });
    }), ...results.filter((r) => r.more).map((r) => h('p', { class: 'muted', 'data-testid': 'dead-letters-more' },
      `${r.source.service}: only the first ${r.items.length} dead letters are listed. Replay or fix those, then refresh for the rest.`)));
    // "Every message was handled" only when every service answered.
    empty.hidden = rows.length > 0 || results.some((r) => r.error);
    updateButtons();
    stamp(updated);
  };

  replayButton.addEventListener('click', async () => {
    const selected = checkboxes().filter((b) => b.checked).map((b) => b.value.split(':'));
    if (selected.length === 0) return;
    replayButton.disabled = true;
    const byService = new Map();
    for (const [service, id] of selected) byService.set(service, [...(byService.get(service) ?? []), id]);
    const outcomes = [];
    for (const [service, ids] of byService) {
      const source = DEAD_LETTER_SOURCES.find((s) => s.service === service);
      try {
        const answer = await request(`${source.prefix}/admin/dead-letters/replay`, { method: 'POST', body: { ids }, signal: view.signal });
        outcomes.push(`${service}: replaying ${answer?.replaying ?? ids.length}`);
      } catch (error) {
        if (isAbort(error)) return;
        const problem = problemOf(error);
        outcomes.push(`${service}: ${problem.title}${problem.detail ? ` (${problem.detail})` : ''}`);
      }
    }
    setText(result, `${outcomes.join('; ')}.`);
    for (const box of checkboxes()) box.checked = false;
    view.later(() => load().catch((error) => showRefreshError(errorSlot, error)), 1000);
    await load().catch((error) => showRefreshError(errorSlot, error));
  });
  refreshButton.addEventListener('click', () => load().catch((error) => showRefreshError(errorSlot, error)));

  show(view, 'Dead letters',
    h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, `Messages a service could not handle after its retries, with the exception; from ${DEAD_LETTER_SOURCES.map((s) => s.service).join(', ')}. Replay sends them back to the service’s inbox.`),
    errorSlot,
    h('div', { class: 'form-actions' }, replayButton, refreshButton),
    result,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'dead-letters' },
      h('caption', { class: 'visually-hidden' }, 'Dead-lettered messages'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, selectAll, h('label', { for: 'select-all', class: 'visually-hidden' }, 'Select all')),
        h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Message type'), h('th', { scope: 'col' }, 'Reason'),
        h('th', { scope: 'col' }, 'Sent by'), h('th', { scope: 'col' }, 'Sent at'), h('th', { scope: 'col' }, 'Replay'))),
      tbody)),
    empty,
    updated);
  try {
    await load();
  } catch (error) {
    showRefreshError(errorSlot, error);
  }
}

function notFoundView(route, view) {
  show(view, 'Not found', h('h1', {}, 'Page not found'), h('p', {}, 'No ops page at ', h('code', {}, route.path), '. ', h('a', { href: '#/' }, 'Service map'), '.'));
}

// ---------------------------------------------------------------------------------------------------------------
// Routing and start

const ROUTES = {
  '': servicesView,
  breakers: breakersView,
  policies: policiesView,
  faults: faultsView,
  sagas: (route, view) => (route.segments[1] ? sagaView(route, view) : sagasView(route, view)),
  events: eventsView,
  'dead-letters': deadLettersView,
};

function render(route, view) {
  session = getSession();
  renderAccount();
  if (!session) {
    nav.hidden = true;
    return signinGate(view);
  }
  if (!session.isAdmin) {
    nav.hidden = true;
    return accessDenied(view);
  }
  nav.hidden = false;
  markNav(route);
  const handler = ROUTES[route.segments[0] ?? ''] ?? notFoundView;
  return handler(route, view);
}

document.querySelector('[data-skip-link]')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

onAuthChange(() => {
  session = getSession();
  router.refresh();
});

router.start();
