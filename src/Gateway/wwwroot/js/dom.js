// Small DOM helpers shared by the storefront and the ops console: element builder (text only, never innerHTML),
// hash router with per-view lifetime, form field errors from problem details, formatting.

/**
 * Builds an element. attrs: 'class', 'text', 'dataset' (object), 'on<event>' (function), booleans as presence,
 * anything else as an attribute. children: nodes, strings, numbers, arrays; null/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = String(value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(key, '');
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

/** Sets text only when it changed (keeps screen readers and focus calm on refreshes). */
export function setText(element, text) {
  const value = text === undefined || text === null ? '' : String(text);
  if (element.textContent !== value) element.textContent = value;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function formatMoney(value) {
  const number = Number(value);
  return Number.isFinite(number) ? money.format(number) : '—';
}

export function formatDateTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Time with milliseconds, for saga steps that follow each other closely. */
export function formatTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const time = date.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `${time}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** "3 s ago", "2 min ago". */
export function formatAge(value, now = Date.now()) {
  const date = new Date(value);
  if (!value || Number.isNaN(date.getTime())) return '';
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}

export function timeElement(value, text = formatDateTime(value)) {
  return h('time', { datetime: value ?? undefined }, text);
}

export function shortId(id) {
  return String(id ?? '').slice(0, 8);
}

// ---------------------------------------------------------------------------------------------------------------
// Hash router: '#/orders/123?x=1' → {path: '/orders/123', segments: ['orders','123'], query}.

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const at = raw.indexOf('?');
  const path = (at < 0 ? raw : raw.slice(0, at)) || '/';
  const query = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
  const segments = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { path: path.startsWith('/') ? path : `/${path}`, segments, query, hash: `#${raw}` };
}

/** Builds '#/path?query' leaving out empty query values. */
export function hashOf(path, params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

/**
 * Runs render(route, view) on every hash change. Each render gets a view with an AbortSignal and timers that end
 * when the next route renders, so polling and late answers of a left page never touch the new one.
 */
export function createRouter(render) {
  let current = null;
  const run = () => {
    if (current) current.dispose();
    const view = createView();
    current = view;
    Promise.resolve()
      .then(() => render(parseHash(), view))
      .catch((error) => {
        if (!view.signal.aborted && error?.name !== 'AbortError') console.error(error);
      });
  };
  window.addEventListener('hashchange', run);
  return {
    start: run,
    refresh: run,
    /** Navigates; the same hash renders again; replace keeps the history entry. */
    go(hash, { replace = false } = {}) {
      if (location.hash === hash || (hash === '#/' && !location.hash)) {
        if (replace) history.replaceState(null, '', hash);
        run();
      } else if (replace) {
        history.replaceState(null, '', hash);
        run();
      } else {
        location.hash = hash;
      }
    },
  };
}

function createView() {
  const controller = new AbortController();
  const timers = new Set();
  const view = {
    signal: controller.signal,
    get alive() {
      return !controller.signal.aborted;
    },
    /** setTimeout that is cancelled when the view goes. */
    later(fn, ms) {
      if (controller.signal.aborted) return;
      const id = setTimeout(() => {
        timers.delete(id);
        if (!controller.signal.aborted) fn();
      }, ms);
      timers.add(id);
    },
    /** Runs task now and again every ms after each run finished, until the view goes. */
    poll(task, ms) {
      const tick = async () => {
        try {
          await task();
        } catch (error) {
          if (error?.name !== 'AbortError') console.error(error);
        }
        view.later(tick, ms);
      };
      return tick();
    },
    dispose() {
      controller.abort();
      for (const id of timers) clearTimeout(id);
      timers.clear();
    },
  };
  return view;
}

/** Moves focus to the page heading after navigation (screen readers hear the new page). */
export function focusHeading(container) {
  const heading = container.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Forms

/**
 * A labelled input with its error element: <label for=id>, <input id aria-describedby="id-error">,
 * <p id="id-error" role="alert">. attrs go to the input (name defaults to id). hint: extra help text.
 */
export function field({ id, label, type = 'text', hint, attrs = {}, control }) {
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const input = control ?? h(type === 'textarea' ? 'textarea' : 'input', {
    id,
    name: id,
    type: type === 'textarea' ? undefined : type,
    ...attrs,
  });
  input.setAttribute('aria-describedby', [errorId, hintId].filter(Boolean).join(' '));
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { id: hintId, class: 'field-hint' }, hint) : null,
    input,
    h('p', { id: errorId, class: 'field-error', role: 'alert' }));
}

/** The form-level error summary element (title, detail, unmatched field errors). */
export function formSummary(id = 'form-error') {
  return h('div', { id, class: 'form-summary', role: 'alert', 'data-testid': 'form-error', hidden: true });
}

/** Clears field errors and the summary of a form (or any container). */
export function clearErrors(container) {
  for (const element of container.querySelectorAll('.field-error')) element.textContent = '';
  for (const element of container.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
  for (const summary of container.querySelectorAll('.form-summary')) {
    summary.hidden = true;
    summary.replaceChildren();
  }
}

/** 'items[0].quantity' → 'items[0].quantity', '$.Email' → 'email'; lower case. */
function normalise(key) {
  return String(key).replace(/^\$\.?/, '').toLowerCase();
}

/** 'targets.catalog.faults.errorRate' → 'errorrate'; 'items[0].quantity' → 'quantity'. */
function lastSegment(key) {
  const parts = normalise(key).split('.');
  return parts[parts.length - 1].replace(/\[\d+\]/g, '');
}

/**
 * Shows a problem in a form: each `errors` key goes next to the matching control (matched case-insensitively by
 * data-error-key, then name/id, then the key's last path segment), the rest plus title/detail go to the summary.
 * Returns the first control that got an error (to focus it).
 */
export function showProblem(container, problem, { summaryTitle } = {}) {
  clearErrors(container);
  const controls = [...container.querySelectorAll('input, select, textarea')].filter((c) => c.id);
  const byKey = new Map();
  const byName = new Map();
  const byLast = new Map();
  for (const control of controls) {
    if (control.dataset.errorKey) byKey.set(normalise(control.dataset.errorKey), control);
    for (const name of [control.name, control.id]) {
      if (name && !byName.has(name.toLowerCase())) byName.set(name.toLowerCase(), control);
    }
    const last = (control.name || control.id).toLowerCase();
    byLast.set(last, byLast.has(last) && byLast.get(last) !== control ? null : control);
  }
  const resolve = (key) => {
    const normal = normalise(key);
    return byKey.get(normal) ?? byName.get(normal) ?? byLast.get(lastSegment(key)) ?? null;
  };

  const unmatched = [];
  let first = null;
  const place = (key, messages) => {
    const control = resolve(key);
    const target = control ? document.getElementById(`${control.id}-error`) : null;
    if (!control || !target) {
      unmatched.push([key, messages]);
      return;
    }
    target.textContent = [target.textContent, ...messages].filter(Boolean).join(' ');
    control.setAttribute('aria-invalid', 'true');
    first ??= control;
  };
  for (const [key, messages] of Object.entries(problem.errors ?? {})) place(key, messages);
  if (problem.field && Object.keys(problem.errors ?? {}).length === 0 && problem.detail) {
    // e.g. 409 {field: "email", detail: "An account with this e-mail address exists."}
    place(problem.field, [problem.detail]);
  }

  const summary = container.querySelector('.form-summary');
  if (summary) {
    summary.replaceChildren();
    append(summary, [
      h('p', { class: 'summary-title' }, summaryTitle ?? problem.title),
      problem.detail ? h('p', { class: 'summary-detail' }, problem.detail) : null,
      unmatched.length ? h('ul', {}, unmatched.map(([key, messages]) => h('li', {}, `${key}: ${messages.join(' ')}`))) : null,
      problem.retryAfter ? h('p', {}, `Retry after ${problem.retryAfter} s.`) : null]);
    summary.hidden = false;
  }
  return first;
}

/** A standalone problem box (for page loads that failed). */
export function problemBox(problem, { testid = 'problem' } = {}) {
  const errors = Object.entries(problem.errors ?? {});
  return h('div', { class: 'notice notice-error', role: 'alert', 'data-testid': testid },
    h('p', { class: 'summary-title' }, problem.title),
    problem.detail ? h('p', {}, problem.detail) : null,
    errors.length ? h('ul', {}, errors.map(([key, messages]) => h('li', {}, `${key}: ${messages.join(' ')}`))) : null);
}

/**
 * Replaces a container's rows (table body, list) by key, touching only rows whose content changed, so focus and open
 * <details> survive refreshes. immutable: rows never change once shown (event logs); existing keys are kept as they are.
 */
export function syncRows(tbody, items, keyOf, build, { immutable = false } = {}) {
  const existing = new Map([...tbody.children].map((row) => [row.dataset.key, row]));
  const rows = items.map((item) => {
    const key = String(keyOf(item));
    if (immutable && existing.has(key)) return existing.get(key);
    const fresh = build(item);
    fresh.dataset.key = key;
    const old = existing.get(key);
    if (old && old.outerHTML === fresh.outerHTML) return old;
    if (old && old.contains(document.activeElement)) {
      // Keep the focused row element; refresh its cells.
      old.replaceChildren(...fresh.childNodes);
      for (const { name, value } of fresh.attributes) old.setAttribute(name, value);
      return old;
    }
    return fresh;
  });
  const wanted = new Set(rows);
  for (const row of [...tbody.children]) if (!wanted.has(row)) row.remove();
  rows.forEach((row, index) => {
    if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] ?? null);
  });
}

/** Client-side UUID check (orders and products are GUIDs). */
export function isGuid(value) {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(String(value).trim());
}

/**
 * The frame both apps share. show(view, title, ...content) replaces <main> and moves focus to its heading, so keyboard
 * and screen-reader users land on it; flash(message, kind) shows a notice for a few seconds.
 */
export function pageFrame(main, flashRegion, appName) {
  let flashTimer = null;
  return {
    show(view, title, ...content) {
      if (!view.alive) return;
      document.title = title ? `${title} · ${appName}` : appName;
      main.replaceChildren(...content.flat().filter(Boolean));
      focusHeading(main);
    },
    flash(message, kind = 'info') {
      clearTimeout(flashTimer);
      flashRegion.replaceChildren(h('p', { class: `flash-message flash-${kind}` }, message));
      flashTimer = setTimeout(() => flashRegion.replaceChildren(), 6000);
    },
  };
}
