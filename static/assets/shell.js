// The chrome every page shares, built in one place: the top bar (brand, page
// name, connection state, who is signed in, language switch, sign out), the
// staff sign-in form and the JSON API helper. Viewer, studio, archive,
// report and decisions pages use it instead of repeating the markup.
//
// A page declares what it wants and leaves the elements empty:
//
//   <header class="topbar" data-shell="studio_name" data-shell-parts="conn auth">
//     <!-- page-specific buttons (optional) stay here, after the brand -->
//   </header>
//   <section id="login" class="login" data-login-title="login_title" hidden></section>
//
//   data-shell        string key of the page's name after the brand ("" = none)
//   data-shell-parts  any of: conn (a #conn status), auth (#me and #logout)
//   data-login-title  string key of the sign-in form's heading
//
// and then, in its module:
//
//   import { initShell, setupLogin } from './shell.js';
//   initShell();                       // language, header, sign-in form
//   const auth = setupLogin({ onReady(me) {…}, onLoggedOut() {…} });
//
// The elements keep the ids pages and tests already use: #conn, #me,
// #lang-toggle, #logout, #login-form, #login-name, #login-password,
// #login-error, #login-submit.
import { t, initI18n, onLangChange } from './i18n.js';
import { el, $ } from './dom.js';

// ---------- API ----------

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  return { status: res.status, ok: res.ok, data };
}

export function errorCode(res) {
  return (res && res.data && res.data.error && res.data.error.code) || (res && res.status) || 'network';
}

// ---------- header ----------

function buildHeader(header) {
  const parts = new Set((header.dataset.shellParts || '').split(/\s+/).filter(Boolean));
  const own = [...header.childNodes]; // the page's own buttons, kept after the brand
  const sub = header.dataset.shell || '';
  const brand = el('span', { class: 'brand' }, el('span', { 'data-i18n': 'app_name', text: t('app_name') }));
  if (sub) brand.append(' · ', el('span', { class: 'brand-sub', 'data-i18n': sub, text: t(sub) }));
  const items = [brand];
  if (parts.has('conn')) items.push(el('span', { id: 'conn', class: 'conn', role: 'status', 'aria-live': 'polite' }));
  items.push(...own);
  if (parts.has('auth')) items.push(el('span', { id: 'me', class: 'me', hidden: true }));
  items.push(el('button', {
    id: 'lang-toggle', class: 'btn btn-ghost lang-toggle', type: 'button', 'data-lang-toggle': true,
    'data-i18n': 'lang_toggle', 'data-i18n-attr': 'aria-label:lang_toggle_label', text: t('lang_toggle'),
  }));
  if (parts.has('auth')) items.push(el('button', { id: 'logout', class: 'btn btn-ghost', type: 'button', 'data-i18n': 'logout', hidden: true, text: t('logout') }));
  header.replaceChildren(...items);
  header.dataset.shellBuilt = 'true';
}

function buildLogin(section) {
  const titleKey = section.dataset.loginTitle || 'login_title';
  const field = (id, labelKey, input) => el('div', { class: 'field' }, el('label', { for: id, 'data-i18n': labelKey }), input);
  const form = el('form', { id: 'login-form', class: 'card login-card', novalidate: true },
    el('h1', { class: 'login-title', 'data-i18n': titleKey }),
    field('login-name', 'login_name', el('input', {
      id: 'login-name', name: 'name', type: 'text', autocomplete: 'username', autocapitalize: 'none',
      spellcheck: 'false', dir: 'auto', required: true,
    })),
    field('login-password', 'login_password', el('input', {
      id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', dir: 'ltr', required: true,
    })),
    el('p', { id: 'login-error', class: 'notice', 'data-kind': 'error', role: 'alert', hidden: true }),
    el('button', { id: 'login-submit', class: 'btn btn-primary btn-block', type: 'submit', 'data-i18n': 'login_submit' }));
  section.replaceChildren(form);
}

// Builds the header and the sign-in form (where the page has them) and sets
// the page language. Call once, before the page's own rendering.
export function initShell() {
  for (const header of document.querySelectorAll('header[data-shell]')) {
    if (!header.dataset.shellBuilt) buildHeader(header);
  }
  const login = $('#login');
  if (login && !login.querySelector('form')) buildLogin(login);
  initI18n();
}

// ---------- sign-in ----------

// Wires the sign-in form and the #me / #logout header items. onReady(me) runs
// once signed in (at once when the cookie is still valid); onLoggedOut() when
// the form is shown again. Returns {expired(), me(), setMe(me)}: call
// expired() when an API answer says 401.
export function setupLogin({ onReady, onLoggedOut } = {}) {
  const ui = {
    login: $('#login'), form: $('#login-form'), name: $('#login-name'), password: $('#login-password'),
    submit: $('#login-submit'), error: $('#login-error'), logout: $('#logout'), me: $('#me'),
  };
  let me = null;
  const setError = (key, vars) => {
    ui.login.dataset.errorKey = key || '';
    ui.error.hidden = !key;
    ui.error.textContent = key ? t(key, vars) : '';
  };
  const renderMe = () => {
    if (!ui.me) return;
    if (!me) { ui.me.hidden = true; return; }
    const role = me.role ? t(`role_${me.role}`) : '';
    ui.me.hidden = false;
    ui.me.replaceChildren(el('bdi', { text: me.name || '' }), role ? ` (${role})` : '');
  };
  const show = (who) => {
    me = who;
    ui.login.hidden = true;
    if (ui.logout) ui.logout.hidden = false;
    renderMe();
    if (onReady) onReady(me);
  };
  const showLogin = (key = null) => {
    me = null;
    ui.login.hidden = false;
    if (ui.logout) ui.logout.hidden = true;
    ui.submit.disabled = false;
    renderMe();
    setError(key);
    if (onLoggedOut) onLoggedOut();
    (ui.name.value ? ui.password : ui.name).focus();
  };
  ui.form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = ui.name.value.trim();
    const password = ui.password.value;
    if (!name || !password) { setError('login_bad'); return; }
    ui.submit.disabled = true;
    setError(null);
    try {
      const res = await api('POST', '/api/v1/login', { name, password });
      if (res.status === 200) {
        ui.password.value = '';
        show(res.data || { name, role: '' });
      } else if (res.status === 401) setError('login_bad');
      else if (res.status === 429) setError('login_throttled');
      else setError('login_failed', { code: errorCode(res) });
    } catch {
      setError('login_failed', { code: 'network' });
    } finally {
      ui.submit.disabled = false;
    }
  });
  if (ui.logout) {
    ui.logout.addEventListener('click', async () => {
      ui.logout.disabled = true;
      try { await api('POST', '/api/v1/logout'); } catch { /* signed out locally anyway */ }
      ui.logout.disabled = false;
      showLogin();
    });
  }
  onLangChange(() => {
    renderMe();
    if (!ui.login.hidden && ui.login.dataset.errorKey) setError(ui.login.dataset.errorKey);
  });
  (async () => {
    try {
      const res = await api('GET', '/api/v1/me');
      if (res.status === 200 && res.data) { show(res.data); return; }
    } catch { /* fall through to the form */ }
    showLogin();
  })();
  return {
    expired: () => showLogin('login_expired'),
    me: () => me,
    setMe: (who) => { me = who; renderMe(); },
  };
}
