// Mercato storefront: hash-routed single page over the gateway's public API (same origin, /api/...).
// Routes: #/  #/products?q=&page=&pageSize=  #/products/{id}  #/basket  #/checkout  #/orders  #/orders/{id}
//         #/notifications  #/signin?next=  #/register?next=

import { ApiError, catalogRead, isAbort, problemOf, query, request, seg } from './api.js';
import { getSession, onAuthChange, registerUser, signIn, signInForm, signOut } from './auth.js';
import {
  clear, clearErrors, createRouter, field, focusHeading, formatMoney, formatTime, formSummary, h, hashOf,
  pageFrame, parseHash, problemBox, setText, shortId, showProblem, syncRows, timeElement,
} from './dom.js';

const PAGE_SIZE = 12;
const ORDER_POLL_MS = 1000;
/** Seconds ordering may hold a read of an order that has not changed (it caps this at 20). */
const ORDER_WAIT_S = 15;
const NOTIFICATIONS_POLL_MS = 3000;
const TERMINAL_STATUSES = ['Confirmed', 'Cancelled'];
const PAYMENT_METHODS = [
  { value: 'tok_visa', label: 'Test card — succeeds' },
  { value: 'tok_decline', label: 'Test card — declined' },
];
const PENDING_ADD_KEY = 'mercato.pendingAdd';
const PRODUCT_TTL_MS = 60_000;
const MAX_QUANTITY = 1000;

const main = document.getElementById('main');
const flashRegion = document.getElementById('flash');
const accountArea = document.getElementById('account');
const navLinks = document.getElementById('nav-links');
const searchForm = document.getElementById('search-form');
const searchInput = document.getElementById('q');
const basketCount = document.querySelector('[data-testid="basket-count"]');

let session = getSession();
let currentRoute = parseHash();
const router = createRouter(render);

// ---------------------------------------------------------------------------------------------------------------
// Shell: header, account area, basket count, flash messages

function renderAccount() {
  clear(accountArea);
  const opsItem = navLinks.querySelector('[data-nav-item="ops"]');
  if (session?.isAdmin && !opsItem) {
    navLinks.append(h('li', { 'data-nav-item': 'ops' }, h('a', { href: '/ops/', 'data-testid': 'ops-link' }, 'Ops console')));
  } else if (!session?.isAdmin && opsItem) {
    opsItem.remove();
  }
  if (session) {
    accountArea.append(
      h('span', { class: 'signed-in', 'data-testid': 'signed-in-as', title: session.email }, 'Signed in as ', h('strong', {}, session.name || session.email)),
      h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'sign-out', onclick: onSignOut }, 'Sign out'));
  } else {
    accountArea.append(
      h('a', { href: '#/signin', 'data-testid': 'signin-link' }, 'Sign in'),
      h('a', { href: '#/register', 'data-testid': 'register-link' }, 'Register'));
  }
}

let signingOut = false;
function onSignOut() {
  signingOut = true;
  signOut();
  signingOut = false;
  flash('You are signed out.');
  router.go('#/');
}

function markNav(route) {
  const section = route.segments[0] ?? 'home';
  for (const link of navLinks.querySelectorAll('a[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function setBasketCount(items) {
  const count = (items ?? []).reduce((sum, line) => sum + (Number(line.quantity) || 0), 0);
  setText(basketCount, count);
}

async function refreshBasketCount() {
  if (!session) {
    setBasketCount([]);
    return;
  }
  try {
    const basket = await request('/api/basket');
    setBasketCount(basket?.items);
  } catch {
    // The count is a convenience; the basket page shows errors.
  }
}

const { show, flash } = pageFrame(main, flashRegion, 'Mercato');

function loading(view, title) {
  if (!view.alive) return;
  document.title = `${title} · Mercato`;
  main.replaceChildren(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
}

function failed(view, title, error) {
  if (isAbort(error) || !view.alive) return;
  show(view, title, h('h1', {}, title), problemBox(problemOf(error)));
}

/** Pages that need a signed-in user send visitors to sign in first, then back. */
function requireSession(route, reason) {
  if (session) return true;
  router.go(hashOf('/signin', { next: route.hash.slice(1), reason }), { replace: true });
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Data helpers

const productCache = new Map();

/** GET /api/catalog/products/{id} (cached a minute); null when the product does not exist or cannot be read. */
function loadProduct(id) {
  const key = String(id).toLowerCase();
  const cached = productCache.get(key);
  if (cached && cached.at > Date.now() - PRODUCT_TTL_MS) return cached.promise;
  const promise = catalogRead(`/api/catalog/products/${seg(id)}`).catch(() => {
    productCache.delete(key);
    return null;
  });
  productCache.set(key, { at: Date.now(), promise });
  return promise;
}

function rememberProducts(products) {
  for (const product of products ?? []) {
    productCache.set(String(product.id).toLowerCase(), { at: Date.now(), promise: Promise.resolve(product) });
  }
}

async function loadProducts(ids) {
  const unique = [...new Set(ids.map((id) => String(id).toLowerCase()))];
  const products = await Promise.all(unique.map(loadProduct));
  return new Map(unique.map((id, index) => [id, products[index]]));
}

function productOf(map, id) {
  return map.get(String(id).toLowerCase()) ?? null;
}

let basketQueue = Promise.resolve();

/**
 * Changes the basket: reads it, lets change() edit the list, PUTs the whole list. Changes run one after another, so
 * two quick clicks add two items instead of one overwriting the other.
 */
function mutateBasket(change) {
  const run = basketQueue.then(async () => {
    const current = await request('/api/basket');
    const items = (current?.items ?? []).map((line) => ({ productId: line.productId, quantity: line.quantity }));
    const next = change(items);
    const saved = await request('/api/basket', { method: 'PUT', body: { items: next } });
    setBasketCount(saved?.items);
    return saved;
  });
  basketQueue = run.catch(() => {});
  return run;
}

/** Parses a quantity field: an integer, or null (sent as is so the API's own message explains the rule). */
function parseQuantity(value) {
  const text = String(value ?? '').trim();
  if (!/^-?\d+$/.test(text)) return null;
  return Number.parseInt(text, 10);
}

function validQuantity(quantity) {
  return Number.isInteger(quantity) && quantity >= 1 && quantity <= MAX_QUANTITY;
}

/** Adds quantity of a product (merging with its line); an invalid quantity goes as its own line for the API to refuse. */
function addLine(items, productId, quantity) {
  const id = String(productId).toLowerCase();
  const line = items.find((item) => String(item.productId).toLowerCase() === id);
  if (line && validQuantity(quantity)) line.quantity += quantity;
  else items.push({ productId, quantity });
  return items;
}

/** The "Add to basket" action of product cards and the product page. */
async function addToBasket(product, quantity, { button, form } = {}) {
  if (!session) {
    try {
      sessionStorage.setItem(PENDING_ADD_KEY, JSON.stringify({ productId: product.id, quantity, name: product.name }));
    } catch {
      // No session storage: the visitor adds it again after signing in.
    }
    router.go(hashOf('/signin', { next: currentRoute.hash.slice(1), reason: 'basket' }));
    return;
  }
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  if (form) clearErrors(form);
  try {
    await mutateBasket((items) => addLine(items, product.id, quantity));
    flash(`Added ${quantity === 1 ? '' : `${quantity} × `}${product.name} to your basket.`, 'success');
  } catch (error) {
    if (isAbort(error)) return;
    const problem = problemOf(error);
    if (form) showProblem(form, problem);
    else flash(`${problem.title}${problem.detail ? `: ${problem.detail}` : ''}${errorList(problem)}`, 'error');
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

function errorList(problem) {
  const messages = Object.entries(problem.errors ?? {}).map(([key, list]) => `${key}: ${list.join(' ')}`);
  return messages.length ? ` (${messages.join('; ')})` : '';
}

/** After signing in: the add that a signed-out visitor asked for. */
async function completePendingAdd() {
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_ADD_KEY) ?? 'null');
    sessionStorage.removeItem(PENDING_ADD_KEY);
  } catch {
    return;
  }
  if (!pending?.productId) return;
  try {
    await mutateBasket((items) => addLine(items, pending.productId, validQuantity(pending.quantity) ? pending.quantity : 1));
    flash(`Added ${pending.name ?? 'the product'} to your basket.`, 'success');
  } catch (error) {
    flash(`Could not add ${pending.name ?? 'the product'} to your basket: ${problemOf(error).title}`, 'error');
  }
}

function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Outside a secure context randomUUID is missing; getRandomValues is not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

function productCard(product, { headingLevel = 'h3' } = {}) {
  const nameId = `product-name-${product.id}`;
  const button = h('button', {
    type: 'button', class: 'button', 'data-testid': 'add-to-basket', 'data-product-id': product.id, 'aria-describedby': nameId,
  }, 'Add to basket');
  button.addEventListener('click', () => addToBasket(product, 1, { button }));
  return h('article', { class: 'card product-card', 'data-testid': 'product-card', 'data-product-id': product.id },
    h(headingLevel, { class: 'card-title', id: nameId }, h('a', { href: `#/products/${seg(product.id)}`, 'data-testid': 'product-link' }, product.name)),
    h('p', { class: 'price', 'data-testid': 'product-price' }, formatMoney(product.price)),
    product.description ? h('p', { class: 'card-text' }, truncate(product.description, 140)) : null,
    h('div', { class: 'card-actions' }, button));
}

function productGrid(products) {
  return h('div', { class: 'product-grid', 'data-testid': 'product-list' }, products.map((p) => productCard(p)));
}

function truncate(text, length) {
  const value = String(text ?? '');
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

function statusBadge(status, testid) {
  return h('span', { class: `status status-${String(status).toLowerCase()}`, 'data-testid': testid }, status);
}

function ordersTable(orders, { caption = 'Orders' } = {}) {
  return h('table', { class: 'table', 'data-testid': 'orders-table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col', class: 'num' }, 'Items'),
      h('th', { scope: 'col', class: 'num' }, 'Total'), h('th', { scope: 'col' }, 'Status'))),
    h('tbody', {}, orders.map((order) => h('tr', { 'data-testid': 'order-row', 'data-order-id': order.id },
      h('td', {}, h('a', { href: `#/orders/${seg(order.id)}`, 'data-testid': 'order-link', title: order.id }, shortId(order.id))),
      h('td', {}, timeElement(order.createdAt)),
      h('td', { class: 'num' }, (order.items ?? []).reduce((sum, line) => sum + (line.quantity ?? 0), 0)),
      h('td', { class: 'num' }, formatMoney(order.total)),
      h('td', {}, statusBadge(order.status, 'order-row-status'))))));
}

function paymentLabel(method) {
  const known = PAYMENT_METHODS.find((m) => m.value === method);
  return known ? `${known.label} (${method})` : method ?? '—';
}

// ---------------------------------------------------------------------------------------------------------------
// Views

async function homeView(route, view) {
  loading(view, 'Home');
  if (!session) {
    try {
      const page = await catalogRead(`/api/catalog/products${query({ page: 1, pageSize: PAGE_SIZE })}`, { signal: view.signal });
      rememberProducts(page.items);
      show(view, 'Home',
        h('section', { class: 'hero' },
          h('h1', {}, 'Welcome to Mercato'),
          h('p', {}, 'Browse the catalog, or ', h('a', { href: '#/signin' }, 'sign in'), ' for recommendations and your orders.')),
        h('h2', {}, 'Products'),
        page.items.length ? productGrid(page.items) : h('p', {}, 'The catalog is empty.'),
        page.total > page.items.length ? h('p', {}, h('a', { href: '#/products?page=2' }, 'More products →')) : null);
    } catch (error) {
      failed(view, 'Welcome to Mercato', error);
    }
    return;
  }

  let home;
  try {
    home = await request('/api/home', { signal: view.signal });
  } catch (error) {
    failed(view, 'Home', error);
    return;
  }
  const profile = home.profile?.available && home.profile.data ? home.profile.data : null;
  const name = profile?.name || session.name || session.email;
  const fallback = home.recommendationsSource === 'trending-fallback';
  const recommendations = Array.isArray(home.recommendations) ? home.recommendations : [];
  const products = await loadProducts(recommendations.map((r) => r.productId));
  if (!view.alive) return;
  const shown = recommendations.map((r) => productOf(products, r.productId)).filter(Boolean);

  const recent = home.recentOrders?.available && Array.isArray(home.recentOrders.data) ? home.recentOrders.data : null;
  show(view, 'Home',
    h('h1', { 'data-testid': 'greeting' }, `Hello, ${name}`),
    profile ? null : h('p', { class: 'hint', 'data-testid': 'profile-hint' },
      `Your profile could not be loaded right now${home.profile?.error ? ` (${home.profile.error})` : ''}.`),
    h('section', { 'aria-labelledby': 'recommendations-heading', 'data-testid': 'recommendations', 'data-source': home.recommendationsSource ?? '' },
      h('h2', { id: 'recommendations-heading' }, fallback ? 'Trending products' : 'Recommended for you'),
      fallback ? h('p', { class: 'hint', 'data-testid': 'fallback-hint' },
        `Showing trending products — personal recommendations are unavailable right now (${home.recommendationsError ?? 'no reason given'}).`) : null,
      shown.length ? productGrid(shown)
        : h('p', { 'data-testid': 'no-recommendations' }, fallback ? 'No trending products yet. ' : 'No recommendations yet — they appear once you have ordered. ',
          h('a', { href: '#/products' }, 'Browse the catalog'), '.')),
    h('section', { 'aria-labelledby': 'recent-heading', 'data-testid': 'recent-orders' },
      h('h2', { id: 'recent-heading' }, 'Recent orders'),
      recent === null
        ? h('p', { class: 'hint', 'data-testid': 'recent-orders-hint' },
          `Recent orders are unavailable right now${home.recentOrders?.error ? ` (${home.recentOrders.error})` : ''}.`)
        : recent.length ? [ordersTable(recent, { caption: 'Recent orders' }), h('p', {}, h('a', { href: '#/orders' }, 'All orders →'))]
          : h('p', {}, 'No orders yet.')));
}

async function productsView(route, view) {
  const q = route.query.get('q') ?? '';
  const page = route.query.get('page') ?? '1';
  const pageSize = route.query.get('pageSize') ?? String(PAGE_SIZE);
  const title = q ? `Search: ${q}` : 'Products';
  searchInput.value = q;
  clearErrors(searchForm);
  loading(view, title);
  let result;
  try {
    result = await catalogRead(`/api/catalog/products${query({ q, page, pageSize })}`, { signal: view.signal });
  } catch (error) {
    if (isAbort(error)) return;
    if (error instanceof ApiError && error.status === 400) showProblem(searchForm, error.problem);
    failed(view, title, error);
    return;
  }
  rememberProducts(result.items);
  const pages = Math.max(1, Math.ceil(result.total / result.pageSize));
  const link = (target) => hashOf('/products', { q, page: target, pageSize: pageSize === String(PAGE_SIZE) ? undefined : pageSize });
  show(view, title,
    h('h1', {}, q ? `Results for “${q}”` : 'Products'),
    h('p', { class: 'muted', 'data-testid': 'result-count' }, `${result.total} ${result.total === 1 ? 'product' : 'products'}`),
    result.items.length ? productGrid(result.items)
      : h('p', { 'data-testid': 'no-results' }, q ? `No products match “${q}”.` : 'No products on this page.'),
    h('nav', { class: 'pagination', 'aria-label': 'Pagination' },
      result.page > 1 ? h('a', { href: link(result.page - 1), rel: 'prev', 'data-testid': 'prev-page' }, '← Previous') : null,
      h('span', { 'data-testid': 'page-info', 'aria-current': 'page' }, `Page ${result.page} of ${pages}`),
      result.page < pages ? h('a', { href: link(result.page + 1), rel: 'next', 'data-testid': 'next-page' }, 'Next →') : null));
}

async function productView(route, view) {
  const id = route.segments[1];
  loading(view, 'Product');
  let product;
  let stock;
  try {
    [product, stock] = await Promise.all([
      catalogRead(`/api/catalog/products/${seg(id)}`, { signal: view.signal }),
      request(`/api/inventory/items/${seg(id)}`, { signal: view.signal }).catch((error) => {
        if (isAbort(error)) throw error;
        return null; // 401 (anonymous), 404 (not tracked), 503 …: stock unknown.
      }),
    ]);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
      show(view, 'Product not found', h('h1', {}, 'Product not found'), problemBox(error.problem), h('p', {}, h('a', { href: '#/products' }, 'Back to products')));
      return;
    }
    failed(view, 'Product', error);
    return;
  }
  rememberProducts([product]);

  let stockText = 'Stock unknown';
  let stockClass = 'stock-unknown';
  if (stock && Number.isFinite(stock.available)) {
    stockText = stock.available > 0 ? `In stock: ${stock.available} available` : 'Out of stock';
    stockClass = stock.available > 0 ? 'stock-ok' : 'stock-out';
  }

  const form = h('form', { class: 'form inline-form', novalidate: true, 'data-testid': 'add-form' },
    field({ id: 'quantity', label: 'Quantity', type: 'number', attrs: { value: '1', min: '1', max: String(MAX_QUANTITY), step: '1', inputmode: 'numeric', class: 'input-narrow' } }),
    h('button', { type: 'submit', class: 'button', 'data-testid': 'add-to-basket', 'data-product-id': product.id }, 'Add to basket'),
    formSummary());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const quantity = parseQuantity(form.elements.quantity.value);
    addToBasket(product, quantity, { button: form.querySelector('button[type="submit"]'), form });
  });

  show(view, product.name,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/products' }, '← Products')),
    h('article', { class: 'product-detail', 'data-testid': 'product-detail', 'data-product-id': product.id },
      h('h1', { 'data-testid': 'product-name' }, product.name),
      h('p', { class: 'price price-large', 'data-testid': 'product-price' }, formatMoney(product.price)),
      h('p', { class: `stock ${stockClass}`, 'data-testid': 'stock' }, stockText,
        stock && Number.isFinite(stock.onHand) ? h('span', { class: 'muted' }, ` (on hand ${stock.onHand}, reserved ${stock.reserved})`) : null),
      product.description ? h('p', { class: 'description', 'data-testid': 'product-description' }, product.description) : null,
      form));
}

/** The caller's basket and its products, or null once the page shows why it could not be loaded. */
async function loadBasket(view, title) {
  loading(view, title);
  try {
    // A change still on its way (a quantity saved as the page was left) lands first: the page shows what a checkout takes.
    await basketQueue;
    const basket = await request('/api/basket', { signal: view.signal });
    const products = await loadProducts([...basket.items, ...(basket.checkout?.items ?? [])].map((line) => line.productId));
    if (!view.alive) return null;
    setBasketCount(basket.items);
    return { basket, products };
  } catch (error) {
    failed(view, title, error);
    return null;
  }
}

async function basketView(route, view) {
  if (!requireSession(route)) return;
  const loaded = await loadBasket(view, 'Basket');
  if (!loaded) return;
  const { basket, products } = loaded;

  const container = h('div', { 'data-testid': 'basket' });
  let lines = basket.items.map((line) => ({ productId: line.productId, quantity: line.quantity }));

  const save = async (nextLines, { message } = {}) => {
    const form = container.querySelector('form');
    if (form) clearErrors(form);
    try {
      const saved = await mutateBasket(() => nextLines.map((line) => ({ productId: line.productId, quantity: line.quantity })));
      if (!view.alive) return;
      lines = saved.items.map((line) => ({ productId: line.productId, quantity: line.quantity }));
      const newProducts = await loadProducts(lines.map((line) => line.productId));
      for (const [key, value] of newProducts) products.set(key, value);
      draw();
      if (message) flash(message, 'success');
    } catch (error) {
      if (isAbort(error) || !view.alive) return;
      const current = container.querySelector('form');
      if (current) {
        const first = showProblem(current, problemOf(error));
        first?.focus();
      } else {
        flash(problemOf(error).title, 'error');
      }
    }
  };

  const draw = () => {
    const focusedId = document.activeElement?.id;
    if (lines.length === 0) {
      container.replaceChildren(
        h('p', { 'data-testid': 'basket-empty' }, 'Your basket is empty.'),
        h('p', {}, h('a', { href: '#/products', class: 'button' }, 'Browse products')));
      return;
    }
    let total = 0;
    const rows = lines.map((line, index) => {
      const product = productOf(products, line.productId);
      const name = product?.name ?? `Unknown product ${shortId(line.productId)}`;
      const lineTotal = product ? product.price * line.quantity : null;
      if (lineTotal !== null) total += lineTotal;
      const nameId = `line-name-${index}`;
      const quantity = h('input', {
        id: `quantity-${index}`, name: 'quantity', type: 'number', min: '1', max: String(MAX_QUANTITY), step: '1', inputmode: 'numeric',
        value: String(line.quantity), class: 'input-narrow', 'data-error-key': `items[${index}].quantity`, 'data-testid': 'line-quantity',
        'aria-describedby': `quantity-${index}-error`,
      });
      quantity.addEventListener('change', () => {
        const next = lines.map((l, i) => ({ ...l, quantity: i === index ? parseQuantity(quantity.value) : l.quantity }));
        save(next, { message: 'Basket updated.' });
      });
      const remove = h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'remove-line', 'aria-describedby': nameId }, 'Remove');
      remove.addEventListener('click', () => save(lines.filter((_, i) => i !== index), { message: `Removed ${name}.` }));
      return h('tr', { 'data-testid': 'basket-line', 'data-product-id': line.productId },
        h('th', { scope: 'row', id: nameId }, product ? h('a', { href: `#/products/${seg(line.productId)}` }, name) : name),
        h('td', { class: 'num' }, product ? formatMoney(product.price) : '—'),
        h('td', {},
          h('label', { for: `quantity-${index}`, class: 'visually-hidden' }, `Quantity of ${name}`),
          quantity,
          h('p', { id: `quantity-${index}-error`, class: 'field-error', role: 'alert' })),
        h('td', { class: 'num', 'data-testid': 'line-total' }, lineTotal === null ? '—' : formatMoney(lineTotal)),
        h('td', {}, remove));
    });
    const form = h('form', { class: 'form', novalidate: true, 'data-testid': 'basket-form' },
      h('table', { class: 'table' },
        h('caption', { class: 'visually-hidden' }, 'Items in your basket'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Unit price'), h('th', { scope: 'col' }, 'Quantity'),
          h('th', { scope: 'col', class: 'num' }, 'Line total'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h('tbody', {}, rows),
        h('tfoot', {}, h('tr', {},
          h('th', { scope: 'row', colspan: '3' }, 'Total'),
          h('td', { class: 'num', 'data-testid': 'basket-total' }, formatMoney(total)),
          h('td', {})))),
      formSummary(),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'button button-secondary', 'data-testid': 'update-basket' }, 'Update basket'),
        h('a', { href: '#/checkout', class: 'button', 'data-testid': 'checkout-link' }, 'Proceed to checkout')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = lines.map((line, index) => ({ ...line, quantity: parseQuantity(form.querySelector(`#quantity-${index}`).value) }));
      save(next, { message: 'Basket updated.' });
    });
    container.replaceChildren(form);
    if (focusedId) document.getElementById(focusedId)?.focus();
  };

  draw();
  show(view, 'Basket', h('h1', {}, 'Your basket'), unfinishedCheckoutNotice(basket), container);
}

/** A checkout that got no answer from ordering: the order may exist, and only a retry with its key can tell. */
function unfinishedCheckoutNotice(basket) {
  if (!basket.checkout) return null;
  return h('div', { class: 'notice', role: 'status', 'data-testid': 'unfinished-checkout' },
    h('p', {}, 'Your last checkout did not finish, so your order may already be placed. ',
      h('a', { href: '#/checkout' }, 'Finish the checkout'),
      ' before changing your basket: placing it again cannot order or charge twice.'));
}

async function checkoutView(route, view) {
  if (!requireSession(route)) return;
  const loaded = await loadBasket(view, 'Checkout');
  if (!loaded) return;
  const { basket, products } = loaded;
  // One key per visit of this page: every click (and retry after an error) reuses it, so the API makes one order. A
  // checkout that did not finish is finished with its own key and lines.
  const idempotencyKey = basket.checkout?.idempotencyKey ?? uuid();
  const items = basket.checkout?.items ?? basket.items;
  if (items.length === 0) {
    show(view, 'Checkout', h('h1', {}, 'Checkout'),
      h('p', { 'data-testid': 'basket-empty' }, 'Your basket is empty, so there is nothing to check out.'),
      h('p', {}, h('a', { href: '#/products', class: 'button' }, 'Browse products')));
    return;
  }

  let total = 0;
  const summary = h('ul', { class: 'summary-list', 'data-testid': 'checkout-lines' }, items.map((line) => {
    const product = productOf(products, line.productId);
    if (product) total += product.price * line.quantity;
    return h('li', { 'data-testid': 'checkout-line', 'data-product-id': line.productId },
      h('span', {}, `${line.quantity} × ${product?.name ?? `Unknown product ${shortId(line.productId)}`}`),
      h('span', { class: 'num' }, product ? formatMoney(product.price * line.quantity) : '—'));
  }));

  // A key is bound to the payment method it was first sent with: an unfinished checkout is finished with its own (null:
  // none was sent, so none is sent again).
  let lockedMethod = basket.checkout ? { value: basket.checkout.paymentMethod ?? null } : null;
  const preselected = lockedMethod?.value ?? PAYMENT_METHODS[0].value;
  const button = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'place-order' }, 'Place order');
  const radios = PAYMENT_METHODS.map((method, index) => h('div', { class: 'radio' },
    h('input', {
      type: 'radio', name: 'paymentMethod', id: index === 0 ? 'paymentMethod' : `paymentMethod-${method.value}`, value: method.value,
      checked: method.value === preselected, 'aria-describedby': 'paymentMethod-error', 'data-testid': `payment-${method.value}`,
    }),
    h('label', { for: index === 0 ? 'paymentMethod' : `paymentMethod-${method.value}` }, method.label)));
  const lockedNote = h('p', { class: 'hint', 'data-testid': 'payment-locked', hidden: true });
  const fieldset = h('fieldset', { class: 'fieldset' },
    h('legend', {}, 'Payment method'),
    radios,
    lockedNote,
    h('p', { id: 'paymentMethod-error', class: 'field-error', role: 'alert' }));
  const lockMethod = (value) => {
    lockedMethod = { value };
    fieldset.disabled = true;
    lockedNote.hidden = false;
    setText(lockedNote, `This checkout goes on with the payment method it started with: ${paymentLabel(value ?? PAYMENT_METHODS[0].value)}.`);
  };
  if (lockedMethod) lockMethod(lockedMethod.value);
  const form = h('form', { class: 'form', novalidate: true, 'data-testid': 'checkout-form', 'data-idempotency-key': idempotencyKey },
    fieldset,
    formSummary(),
    h('div', { class: 'form-actions' }, button));

  let inFlight = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (inFlight) return;
    inFlight = true;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = 'Placing order…';
    clearErrors(form);
    const paymentMethod = lockedMethod ? lockedMethod.value : form.querySelector('input[name="paymentMethod"]:checked')?.value ?? PAYMENT_METHODS[0].value;
    try {
      const accepted = await request('/api/basket/checkout', {
        method: 'POST', body: paymentMethod === null ? {} : { paymentMethod }, headers: { 'Idempotency-Key': idempotencyKey },
      });
      setBasketCount([]);
      if (view.alive) router.go(`#/orders/${seg(accepted.orderId)}`);
    } catch (error) {
      if (!view.alive) return;
      const problem = problemOf(error);
      // Not finished: the order may exist, and only this key with this method can finish it.
      if (problem.idempotencyKey === idempotencyKey) lockMethod(paymentMethod);
      showProblem(form, problem);
      inFlight = false;
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = 'Place order';
    }
  });

  show(view, 'Checkout',
    h('h1', {}, 'Checkout'),
    unfinishedCheckoutNotice(basket),
    h('section', { 'aria-labelledby': 'summary-heading', class: 'card' },
      h('h2', { id: 'summary-heading' }, 'Order summary'),
      summary,
      h('p', { class: 'total' }, 'Total: ', h('strong', { 'data-testid': 'checkout-total' }, formatMoney(total)))),
    form);
}

const ORDERS_PAGE_SIZE = 20;
const MAX_PAGE = 1_000_000; // the APIs' highest page number

async function ordersView(route, view) {
  if (!requireSession(route)) return;
  loading(view, 'Orders');
  const page = Math.max(1, Number.parseInt(route.query.get('page') ?? '1', 10) || 1);
  try {
    // One more than a page: whether there is a next page, without counting them all.
    const orders = await request(`/api/orders${query({ page, pageSize: ORDERS_PAGE_SIZE })}`, { signal: view.signal });
    const probe = page * ORDERS_PAGE_SIZE + 1;
    const next = orders.length === ORDERS_PAGE_SIZE && probe <= MAX_PAGE ? await request(`/api/orders${query({ page: probe, pageSize: 1 })}`, { signal: view.signal }) : [];
    const link = (target) => hashOf('/orders', { page: target === 1 ? undefined : target });
    show(view, 'Orders', h('h1', {}, 'Your orders'),
      orders.length ? ordersTable(orders)
        : page > 1 ? h('p', { 'data-testid': 'no-orders' }, 'No orders on this page. ', h('a', { href: link(1) }, 'Newest orders'), '.')
          : h('p', { 'data-testid': 'no-orders' }, 'You have no orders yet. ', h('a', { href: '#/products' }, 'Browse products'), '.'),
      page > 1 || next.length ? h('nav', { class: 'pagination', 'aria-label': 'Pagination' },
        page > 1 ? h('a', { href: link(page - 1), rel: 'prev', 'data-testid': 'prev-page' }, '← Newer') : null,
        h('span', { 'data-testid': 'page-info', 'aria-current': 'page' }, `Page ${page}`),
        next.length ? h('a', { href: link(page + 1), rel: 'next', 'data-testid': 'next-page' }, 'Older →') : null) : null);
  } catch (error) {
    failed(view, 'Orders', error);
  }
}

async function orderView(route, view) {
  if (!requireSession(route)) return;
  const id = route.segments[1];
  loading(view, 'Order');
  let order;
  try {
    order = await request(`/api/orders/${seg(id)}`, { signal: view.signal });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
      show(view, 'Order not found', h('h1', {}, 'Order not found'), problemBox(error.problem), h('p', {}, h('a', { href: '#/orders' }, 'Your orders')));
      return;
    }
    failed(view, 'Order', error);
    return;
  }
  const products = await loadProducts((order.items ?? []).map((line) => line.productId));
  if (!view.alive) return;

  const status = h('span', { 'data-testid': 'order-status' });
  const reasonSlot = h('div');
  const live = h('p', { class: 'muted', 'data-testid': 'live-indicator' });
  const pollError = h('p', { class: 'hint', 'data-testid': 'poll-error', hidden: true });
  const stepsBody = h('tbody');
  const updated = h('span');

  const update = (current) => {
    setText(status, current.status);
    status.className = `status status-${String(current.status).toLowerCase()}`;
    const terminal = TERMINAL_STATUSES.includes(current.status);
    setText(live, terminal ? '' : 'Updating live…');
    live.hidden = terminal;
    if (current.cancellationReason) {
      const existing = reasonSlot.querySelector('[data-testid="order-reason"]');
      if (existing) setText(existing, current.cancellationReason);
      else reasonSlot.replaceChildren(h('p', { class: 'reason' }, 'Cancellation reason: ', h('span', { 'data-testid': 'order-reason' }, current.cancellationReason)));
    } else {
      reasonSlot.replaceChildren();
    }
    syncRows(stepsBody, current.steps ?? [], (step) => step.name, (step) => h('tr', { 'data-testid': 'saga-step', 'data-step': step.name, 'data-status': step.status },
      h('th', { scope: 'row' }, step.name),
      h('td', {}, h('span', { class: `step step-${step.status}` }, step.status)),
      h('td', {}, timeElement(step.at, formatTime(step.at))),
      h('td', {}, step.detail ?? '')));
    updated.replaceChildren(timeElement(current.updatedAt));
    return terminal;
  };

  const lines = (order.items ?? []).map((line) => {
    const product = productOf(products, line.productId);
    const name = product?.name ?? `Product ${shortId(line.productId)}`;
    return h('tr', { 'data-testid': 'order-line', 'data-product-id': line.productId },
      h('th', { scope: 'row' }, h('a', { href: `#/products/${seg(line.productId)}` }, name)),
      h('td', { class: 'num' }, line.quantity),
      h('td', { class: 'num' }, formatMoney(line.unitPrice)),
      h('td', { class: 'num' }, formatMoney(line.unitPrice * line.quantity)));
  });

  const terminal = update(order);
  show(view, `Order ${shortId(order.id)}`,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/orders' }, '← Your orders')),
    h('h1', {}, `Order ${shortId(order.id)}`),
    h('p', { class: 'muted' }, 'Order id ', h('code', { 'data-testid': 'order-id' }, order.id), ' · placed ', timeElement(order.createdAt)),
    h('div', { class: 'status-region', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-testid': 'order-status-region' },
      h('p', { class: 'status-line' }, 'Status: ', status),
      reasonSlot),
    live,
    pollError,
    h('section', { 'aria-labelledby': 'lines-heading' },
      h('h2', { id: 'lines-heading' }, 'Items'),
      h('table', { class: 'table' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Quantity'),
          h('th', { scope: 'col', class: 'num' }, 'Unit price'), h('th', { scope: 'col', class: 'num' }, 'Line total'))),
        h('tbody', {}, lines),
        h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: '3' }, 'Total'), h('td', { class: 'num', 'data-testid': 'order-total' }, formatMoney(order.total))))),
      h('p', {}, 'Payment: ', h('span', { 'data-testid': 'order-payment-method' }, paymentLabel(order.paymentMethod)))),
    h('section', { 'aria-labelledby': 'steps-heading' },
      h('h2', { id: 'steps-heading' }, 'Progress'),
      h('table', { class: 'table', 'data-testid': 'saga-steps' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Step'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Detail'))),
        stepsBody),
      h('p', { class: 'muted' }, 'Last change: ', updated)));

  if (terminal) return;
  // Each read is held by ordering until the order changes (Prefer: wait, with If-None-Match on its version, which is
  // its ETag): a step shows the moment it happens. 304 = no change within the wait. Never more than one read per
  // ORDER_POLL_MS, so a server or proxy that answers at once is polled as before, not hammered.
  let version = order.version;
  const tick = async () => {
    const started = Date.now();
    try {
      const current = await request(`/api/orders/${seg(id)}`, {
        signal: view.signal,
        headers: { Prefer: `wait=${ORDER_WAIT_S}`, 'If-None-Match': `"${version}"` },
      });
      pollError.hidden = true;
      version = current.version;
      if (update(current)) return;
    } catch (error) {
      if (isAbort(error) || !view.alive) return;
      if (error instanceof ApiError && error.status === 304) {
        pollError.hidden = true;
      } else {
        const problem = problemOf(error);
        setText(pollError, `Live updates interrupted (${problem.title}); retrying…`);
        pollError.hidden = false;
      }
    }
    view.later(tick, Math.max(0, ORDER_POLL_MS - (Date.now() - started)));
  };
  view.later(tick, 0);
}

async function notificationsView(route, view) {
  if (!requireSession(route)) return;
  loading(view, 'Notifications');
  const list = h('ul', { class: 'notification-list', 'data-testid': 'notifications' });
  const empty = h('p', { 'data-testid': 'no-notifications' }, 'No notifications yet. You get one when an order is confirmed or cancelled.');
  const errorSlot = h('div');
  const labels = { order_confirmed: 'Order confirmed', order_cancelled: 'Order cancelled' };
  const draw = (items) => {
    empty.hidden = items.length > 0;
    syncRows(list, items, (n) => n.id, (n) => h('li', { class: `notification notification-${n.type}`, 'data-testid': 'notification', 'data-type': n.type, 'data-order-id': n.orderId },
      h('p', { class: 'notification-type' }, labels[n.type] ?? n.type),
      h('p', { class: 'notification-message', 'data-testid': 'notification-message' }, n.message),
      h('p', { class: 'muted' }, timeElement(n.createdAt), ' · ', h('a', { href: `#/orders/${seg(n.orderId)}` }, `Order ${shortId(n.orderId)}`))));
  };
  let first = true;
  await view.poll(async () => {
    try {
      const items = await request('/api/notifications', { signal: view.signal });
      draw(items);
      errorSlot.replaceChildren();
    } catch (error) {
      if (isAbort(error)) return;
      errorSlot.replaceChildren(problemBox(problemOf(error)));
    }
    if (first) {
      first = false;
      show(view, 'Notifications', h('h1', {}, 'Notifications'), errorSlot, empty, list);
    }
  }, NOTIFICATIONS_POLL_MS);
}

function nextOf(route) {
  const next = route.query.get('next');
  return next && next.startsWith('/') && !next.startsWith('/signin') && !next.startsWith('/register') ? `#${next}` : '#/';
}

const SIGNIN_REASONS = {
  basket: 'Sign in to add items to your basket.',
  expired: 'Your session has ended; please sign in again.',
};

function signinView(route, view) {
  if (session) {
    show(view, 'Sign in', h('h1', {}, 'Sign in'),
      h('p', {}, `You are signed in as ${session.name || session.email}. `, h('a', { href: '#/' }, 'Go to the home page'), '.'));
    return;
  }
  const reason = route.query.get('reason');
  const notice = SIGNIN_REASONS[reason] ?? (route.query.get('next') ? 'Please sign in to continue.' : null);
  const form = signInForm(view, async () => {
    await completePendingAdd();
    if (view.alive) router.go(nextOf(route), { replace: true });
  });
  const registerHref = hashOf('/register', { next: route.query.get('next') ?? undefined });
  show(view, 'Sign in',
    h('h1', {}, 'Sign in'),
    notice ? h('p', { class: 'notice', 'data-testid': 'signin-notice' }, notice) : null,
    form,
    h('p', {}, 'New to Mercato? ', h('a', { href: registerHref }, 'Create an account'), '.'));
}

function registerView(route, view) {
  if (session) {
    show(view, 'Register', h('h1', {}, 'Register'),
      h('p', {}, `You are signed in as ${session.name || session.email}. Sign out first to create another account.`));
    return;
  }
  const button = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'register-submit' }, 'Create account');
  const form = h('form', { class: 'form narrow', novalidate: true, 'data-testid': 'register-form' },
    formSummary(),
    field({ id: 'name', label: 'Name', attrs: { autocomplete: 'name', required: true } }),
    field({ id: 'email', label: 'E-mail', type: 'email', attrs: { autocomplete: 'email', required: true } }),
    field({ id: 'password', label: 'Password', type: 'password', hint: 'At least 8 characters, with upper and lower case letters and a digit.', attrs: { autocomplete: 'new-password', required: true } }),
    h('div', { class: 'form-actions' }, button));
  // Set once the account exists: a retry after a failed sign-in signs in, instead of registering again (a 409).
  let registered = null;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    clearErrors(form);
    const fields = registered ?? { name: form.elements.name.value, email: form.elements.email.value.trim(), password: form.elements.password.value };
    if (!registered) {
      try {
        await registerUser(fields);
      } catch (error) {
        if (!view.alive) return;
        showProblem(form, problemOf(error))?.focus();
        button.disabled = false;
        return;
      }
      registered = fields;
      for (const input of form.querySelectorAll('input')) input.readOnly = true;
      setText(button, 'Sign in');
    }
    try {
      await signIn(fields.email, fields.password);
      await completePendingAdd();
      flash('Welcome to Mercato! Your account is ready.', 'success');
      if (view.alive) router.go(nextOf(route), { replace: true });
    } catch (error) {
      if (!view.alive) return;
      showProblem(form, problemOf(error), { summaryTitle: 'Your account was created, but signing in failed' });
      button.disabled = false;
    }
  });
  show(view, 'Register',
    h('h1', {}, 'Create an account'),
    form,
    h('p', {}, 'Already have an account? ', h('a', { href: hashOf('/signin', { next: route.query.get('next') ?? undefined }) }, 'Sign in'), '.'));
}

function notFoundView(route, view) {
  show(view, 'Not found', h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at ', h('code', {}, route.path), '. ', h('a', { href: '#/' }, 'Go home'), '.'));
}

// ---------------------------------------------------------------------------------------------------------------
// Routing and start

const ROUTES = {
  '': homeView,
  products: (route, view) => (route.segments[1] ? productView(route, view) : productsView(route, view)),
  basket: basketView,
  checkout: checkoutView,
  orders: (route, view) => (route.segments[1] ? orderView(route, view) : ordersView(route, view)),
  notifications: notificationsView,
  signin: signinView,
  register: registerView,
};
const SIGNED_IN_SECTIONS = new Set(['basket', 'checkout', 'orders', 'notifications']);

function render(route, view) {
  currentRoute = route;
  const fresh = getSession(); // drops a token that expired meanwhile
  if (Boolean(fresh) !== Boolean(session)) {
    session = fresh;
    renderAccount();
    refreshBasketCount();
  }
  session = fresh;
  markNav(route);
  const handler = ROUTES[route.segments[0] ?? ''] ?? notFoundView;
  return handler(route, view);
}

searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  router.go(hashOf('/products', { q: searchInput.value.trim() }));
});

document.querySelector('[data-skip-link]')?.addEventListener('click', (event) => {
  event.preventDefault(); // '#main' would be taken for a route
  main.focus();
});

onAuthChange((next) => {
  const wasSignedIn = Boolean(session);
  session = next;
  renderAccount();
  refreshBasketCount();
  if (!next && wasSignedIn && !signingOut && SIGNED_IN_SECTIONS.has(currentRoute.segments[0])) {
    router.go(hashOf('/signin', { next: currentRoute.hash.slice(1), reason: 'expired' }), { replace: true });
  } else if (!next && wasSignedIn && !signingOut) {
    // The server refused the token on a page for everyone (the home page): show it as a signed-out visitor sees it.
    router.refresh();
  } else if (next && !wasSignedIn && ['signin', 'register'].includes(currentRoute.segments[0]) === false) {
    router.refresh();
  }
});

renderAccount();
refreshBasketCount();
router.start();
