// Sign-in state: the JWT from POST /api/identity/token kept in localStorage ('mercato.token').
// Roles come from the token's "role" claim (MercatoAuth.RoleClaim; an array, or a string for a single role).

import { getToken, problemOf, request, setToken } from './api.js';
import { clearErrors, field, formSummary, h, showProblem } from './dom.js';

export const ADMIN_ROLE = 'admin';
const CHANGED = 'mercato:auth-changed';

/** Decodes a JWT's payload (no signature check: the server checks; this only reads name and roles). */
export function decodeJwt(token) {
  try {
    const part = token.split('.')[1];
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * The signed-in user, or null. An expired or unreadable token is dropped here.
 * @returns {{token: string, id: string, email: string, name: string, roles: string[], isAdmin: boolean, expiresAt: Date|null} | null}
 */
export function getSession() {
  const token = getToken();
  if (!token) return null;
  const claims = decodeJwt(token);
  if (!claims || (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now())) {
    setToken(null);
    return null;
  }
  const role = claims.role ?? claims.roles;
  const roles = Array.isArray(role) ? role.map(String) : role ? [String(role)] : [];
  return {
    token,
    id: String(claims.sub ?? ''),
    email: String(claims.email ?? ''),
    name: String(claims.name ?? claims.email ?? ''),
    roles,
    isAdmin: roles.includes(ADMIN_ROLE),
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
  };
}

/** POST /api/identity/token {email, password} → {access_token}; keeps the token. Throws ApiError (401 wrong credentials). */
export async function signIn(email, password) {
  const answer = await request('/api/identity/token', { method: 'POST', body: { email, password }, auth: false });
  if (!answer || typeof answer.access_token !== 'string') {
    throw new Error('The sign-in answer had no access_token.');
  }
  setToken(answer.access_token);
  announce();
  return getSession();
}

/** POST /api/identity/users {email, password, name} → 201 {id, email, name}. Does not sign in. */
export function registerUser({ email, password, name }) {
  return request('/api/identity/users', { method: 'POST', body: { email, password, name }, auth: false });
}

/** Registers, then signs in with the same credentials. */
export async function register(fields) {
  await registerUser(fields);
  return signIn(fields.email, fields.password);
}

export function signOut() {
  setToken(null);
  announce();
}

function announce() {
  window.dispatchEvent(new CustomEvent(CHANGED));
}

/** Calls back on sign-in/out here and in other tabs. */
export function onAuthChange(callback) {
  const handler = () => callback(getSession());
  window.addEventListener(CHANGED, handler);
  window.addEventListener('storage', (event) => {
    if (event.key === null || event.key === 'mercato.token') handler();
  });
}

/** A token the server refused (expired, revoked key): forget it. */
window.addEventListener('mercato:unauthorized', () => {
  if (getToken()) signOut();
});

/**
 * The sign-in form both apps show: e-mail and password, the API's problem details next to the fields, and
 * <afterSignIn> once the token is kept (the form stays disabled while the request is in flight).
 */
export function signInForm(view, afterSignIn) {
  const button = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'form narrow', novalidate: true, 'data-testid': 'signin-form' },
    formSummary(),
    field({ id: 'email', label: 'E-mail', type: 'email', attrs: { autocomplete: 'username', required: true } }),
    field({ id: 'password', label: 'Password', type: 'password', attrs: { autocomplete: 'current-password', required: true } }),
    h('div', { class: 'form-actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    clearErrors(form);
    try {
      await signIn(form.elements.email.value.trim(), form.elements.password.value);
      await afterSignIn();
    } catch (error) {
      if (!view.alive) return;
      const first = showProblem(form, problemOf(error));
      (first ?? form.querySelector('.form-summary'))?.focus?.();
      button.disabled = false;
    }
  });
  return form;
}
