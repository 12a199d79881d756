// Mercato browser API client: same-origin fetch of JSON, bearer token from localStorage, RFC 9457 problem details.
// No dependencies; shared by the storefront (/js/app.js) and the ops console (/js/ops.js).

export const TOKEN_KEY = 'mercato.token';

/** Raised for every answer that is not 2xx (and for network failures, with status 0). */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: the server could not be reached)
   * @param {Problem} problem the normalised problem document
   */
  constructor(status, problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/**
 * @typedef {object} Problem
 * @property {string} title
 * @property {string} [detail]
 * @property {number} status
 * @property {Record<string, string[]>} errors field (camelCase name or JSON path) → messages; {} when none
 * @property {string} [field] the `field` extension some endpoints add (e.g. 409 "email")
 * @property {string} [traceId]
 * @property {number} [retryAfter] seconds, from the Retry-After header (429, 503)
 */

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage unavailable (private mode): the session lasts for this page only.
  }
}

const DEFAULT_TITLES = {
  0: 'Network error',
  400: 'The request is invalid',
  401: 'Sign-in required',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  429: 'Too many requests',
  500: 'Server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
};

/**
 * Calls the API and answers the parsed JSON body (null for an empty body).
 * @param {string} path same-origin path, e.g. '/api/catalog/products?q=tea'
 * @param {object} [options]
 * @param {string} [options.method]
 * @param {any} [options.body] serialised as JSON (a string is sent as is)
 * @param {Record<string,string>} [options.headers]
 * @param {boolean} [options.auth] send the bearer token (default true)
 * @param {RequestCache} [options.cache] the browser's cache mode (default 'no-store': always ask)
 * @param {AbortSignal} [options.signal]
 * @returns {Promise<any>}
 * @throws {ApiError} for non-2xx answers and network failures; AbortError when the signal aborts
 */
export async function request(path, { method = 'GET', body, headers = {}, auth = true, cache = 'no-store', signal } = {}) {
  const sent = { Accept: 'application/json, application/problem+json', ...headers };
  let payload;
  if (body !== undefined) {
    sent['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const token = auth ? getToken() : null;
  if (token) sent.Authorization = `Bearer ${token}`;

  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: payload, signal, credentials: 'same-origin', cache });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError(0, {
      title: DEFAULT_TITLES[0],
      detail: `The server could not be reached (${error && error.message ? error.message : 'no answer'}).`,
      status: 0,
      errors: {},
    });
  }
  const data = await readBody(response);
  if (!response.ok) {
    const problem = toProblem(response, data);
    if (response.status === 401 && token) {
      // The token was refused (expired, or signed with a retired key): whoever listens signs out.
      window.dispatchEvent(new CustomEvent('mercato:unauthorized', { detail: { path } }));
    }
    throw new ApiError(response.status, problem);
  }
  return data;
}

/**
 * A public catalog read: no token and the browser's default cache mode, so the gateway's shared cache may answer it.
 * A token, or the no-store mode (which makes the browser send Cache-Control: no-cache), would send every read to the
 * catalog. The catalog says max-age=0, so the browser still asks every time.
 * @param {string} path
 * @param {{signal?: AbortSignal}} [options]
 */
export function catalogRead(path, { signal } = {}) {
  return request(path, { auth: false, cache: 'default', signal });
}

async function readBody(response) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    return null;
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Normalises any error answer to {title, detail, status, errors, field, traceId, retryAfter}. */
export function toProblem(response, data) {
  const status = response.status;
  const fromBody = data && typeof data === 'object' && !Array.isArray(data) ? data : {};
  const errors = {};
  if (fromBody.errors && typeof fromBody.errors === 'object') {
    for (const [key, value] of Object.entries(fromBody.errors)) {
      errors[key] = Array.isArray(value) ? value.map(String) : [String(value)];
    }
  }
  const retry = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return {
    title: typeof fromBody.title === 'string' && fromBody.title ? fromBody.title : DEFAULT_TITLES[status] ?? `HTTP ${status}`,
    detail: typeof fromBody.detail === 'string' ? fromBody.detail
      : typeof data === 'string' && data.length < 500 && !data.trimStart().startsWith('<') ? data : undefined,
    status,
    errors,
    field: typeof fromBody.field === 'string' ? fromBody.field : undefined,
    traceId: typeof fromBody.traceId === 'string' ? fromBody.traceId : undefined,
    // A checkout that did not finish names the key that finishes it.
    idempotencyKey: typeof fromBody.idempotencyKey === 'string' ? fromBody.idempotencyKey : undefined,
    retryAfter: Number.isFinite(retry) ? retry : undefined,
  };
}

/** A problem for errors that are not ApiErrors (bugs, aborted JSON, …), so views can show anything the same way. */
export function problemOf(error) {
  if (error instanceof ApiError) return error.problem;
  return { title: 'Something went wrong', detail: error && error.message ? error.message : String(error), status: 0, errors: {} };
}

export function isAbort(error) {
  return error && error.name === 'AbortError';
}

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Path segment, escaped. */
export function seg(value) {
  return encodeURIComponent(String(value));
}
