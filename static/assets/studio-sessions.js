// The producer's desk (issue 17): a "Sessions" dialog from the session bar
// to create a session (Arabic and English titles, an optional planned start),
// rename one, take it live and end it — ending only after a confirmation.
// Producers only: for anyone else the button stays hidden (the server refuses
// them anyway). Everything goes through the HTTP API (/api/v1/sessions) and
// the list is read back after each action, so the dialog shows what the
// server stored; the session bar follows the studio socket (studio.js).
// Every title goes through textContent or an input's value (dom.js el()).
import { t, onLangChange, fmtDateTime, sessionTitle } from './i18n.js';
import { el, $ } from './dom.js';
import { api, errorCode } from './shell.js';

const dialog = $('#sessions-dialog');
const openButton = $('#sessions-open');
const endDialog = $('#session-end-dialog');
const STATUSES = ['scheduled', 'live', 'ended'];
const MAX_ENDED = 10; // the archive has the rest
let sessions = [];
let producer = false;

// <input type="datetime-local"> holds a local time without a zone.
function toLocalInput(ms) {
  if (typeof ms !== 'number') return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}
function fromLocalInput(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

function titleOf(s) { return sessionTitle(s) || `#${s.id}`; }

function notify(text, kind = 'ok') {
  const notice = $('#sessions-notice', dialog);
  notice.hidden = false;
  notice.dataset.kind = kind;
  notice.textContent = text;
}

function failed(res) {
  const message = (res && res.data && res.data.error && res.data.error.message) || errorCode(res);
  notify(t('session_failed', { m: message }), 'error');
}

function titleField(name, value, labelKey) {
  const dir = name === 'title_ar' ? 'rtl' : 'ltr';
  const input = el('input', { name, type: 'text', dir, lang: dir === 'rtl' ? 'ar' : 'en', maxlength: '200',
    autocomplete: 'off', 'aria-label': t(labelKey) });
  input.value = value || '';
  return el('label', { class: 'field' }, el('span', { text: t(labelKey) }), input);
}

// Live first, then the scheduled ones, then the latest ended.
function ordered() {
  const rank = (s) => ({ live: 0, scheduled: 1 })[s.status] ?? 2;
  const list = [...sessions].sort((a, b) => rank(a) - rank(b) || b.id - a.id);
  let ended = 0;
  return list.filter((s) => s.status !== 'ended' || ++ended <= MAX_ENDED);
}

function render() {
  if (!dialog) return;
  const list = $('#sessions-list', dialog);
  list.replaceChildren();
  $('#sessions-empty', dialog).hidden = sessions.length > 0;
  for (const s of ordered()) {
    const status = STATUSES.includes(s.status) ? s.status : 'ended';
    const schedule = el('input', { name: 'scheduled', type: 'datetime-local', dir: 'ltr', 'aria-label': t('session_scheduled') });
    schedule.value = toLocalInput(s.scheduled_at);
    const form = el('form', { class: 'session-rename', novalidate: true, dataset: { id: s.id } },
      titleField('title_ar', s.title_ar, 'session_title_ar'),
      titleField('title_en', s.title_en, 'session_title_en'),
      status === 'scheduled' ? el('label', { class: 'field' }, el('span', { text: t('session_scheduled') }), schedule) : null,
      el('div', { class: 'form-buttons' },
        el('button', { class: 'btn btn-small', type: 'submit', dataset: { act: 'rename' }, text: t('session_save') }),
        status === 'scheduled' ? el('button', { class: 'btn btn-primary btn-small', type: 'button', dataset: { act: 'live' }, text: t('session_go_live') }) : null,
        status !== 'ended' ? el('button', { class: 'btn btn-danger btn-small', type: 'button', dataset: { act: 'end' }, text: t('session_end') }) : null));
    const head = el('div', { class: 'session-item-head' },
      el('span', { class: 'badge-inline', dataset: { status }, text: t(`session_status_${status}`) }),
      el('strong', { class: 'session-item-title', dir: 'auto', text: titleOf(s) }),
      status === 'scheduled' && s.scheduled_at ? el('span', { class: 'hint', text: t('session_at', { time: fmtDateTime(s.scheduled_at) }) }) : null);
    list.append(el('li', { class: 'session-item', dataset: { id: s.id, status } }, head, form));
  }
}

async function refresh() {
  const res = await api('GET', '/api/v1/sessions').catch(() => null);
  if (!res || !res.ok || !res.data || !Array.isArray(res.data.sessions)) return failed(res);
  sessions = res.data.sessions;
  render();
}

// One action at a time: the buttons wait for the server's answer.
async function act(run) {
  dialog.setAttribute('aria-busy', 'true');
  for (const b of dialog.querySelectorAll('button')) b.disabled = true;
  try {
    await run();
    await refresh();
  } finally {
    for (const b of dialog.querySelectorAll('button')) b.disabled = false;
    dialog.removeAttribute('aria-busy');
  }
}

function titlesFrom(form) {
  return { title_ar: form.elements.title_ar.value.trim(), title_en: form.elements.title_en.value.trim() };
}

function confirmEnd(s) {
  $('#session-end-text', endDialog).textContent = t('session_end_text', { title: titleOf(s) });
  endDialog.returnValue = '';
  endDialog.showModal();
  $('#session-end-cancel', endDialog).focus(); // the safe choice is the default
  return new Promise((resolve) => {
    endDialog.addEventListener('close', () => resolve(endDialog.returnValue === 'end'), { once: true });
  });
}

async function onCreate(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const body = titlesFrom(form);
  if (!body.title_ar && !body.title_en) return notify(t('session_needs_title'), 'error');
  const at = fromLocalInput(form.elements.scheduled.value);
  if (at !== null) body.scheduled_at_ms = at;
  await act(async () => {
    const res = await api('POST', '/api/v1/sessions', body);
    if (!res.ok) return failed(res);
    form.reset();
    notify(t('session_created', { title: titleOf(res.data) }));
  });
}

async function onRename(form, s) {
  const body = titlesFrom(form);
  if (!body.title_ar && !body.title_en) return notify(t('session_needs_title'), 'error');
  if (form.elements.scheduled) body.scheduled_at_ms = fromLocalInput(form.elements.scheduled.value);
  await act(async () => {
    const res = await api('PATCH', `/api/v1/sessions/${s.id}`, body);
    if (!res.ok) return failed(res);
    notify(t('session_renamed', { title: titleOf(res.data) }));
  });
}

async function onStatus(s, action) {
  if (action === 'end' && !(await confirmEnd(s))) return;
  await act(async () => {
    const res = await api('POST', `/api/v1/sessions/${s.id}/${action}`, {});
    if (!res.ok) return failed(res);
    notify(t(action === 'live' ? 'session_went_live' : 'session_was_ended', { title: titleOf(res.data) }));
  });
}

// Producers only; asked again whenever the studio (re)connects, since the
// login may have changed.
async function checkRole() {
  const studio = $('#studio');
  if (!studio || studio.dataset.state !== 'ready') return;
  const res = await api('GET', '/api/v1/me').catch(() => null);
  producer = !!(res && res.ok && res.data && res.data.role === 'producer');
  openButton.hidden = !producer;
  if (!producer && dialog.open) dialog.close();
}

if (dialog && openButton && endDialog) {
  openButton.addEventListener('click', () => {
    if (!producer) return;
    $('#sessions-notice', dialog).hidden = true;
    dialog.showModal();
    refresh();
  });
  $('#sessions-close', dialog).addEventListener('click', () => dialog.close());
  $('#session-create', dialog).addEventListener('submit', onCreate);
  $('#sessions-list', dialog).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const s = sessions.find((x) => String(x.id) === ev.target.dataset.id);
    if (s) onRename(ev.target, s);
  });
  $('#sessions-list', dialog).addEventListener('click', (ev) => {
    const button = ev.target.closest('button[data-act="live"], button[data-act="end"]');
    const li = ev.target.closest('li[data-id]');
    const s = li && sessions.find((x) => String(x.id) === li.dataset.id);
    if (button && s) onStatus(s, button.dataset.act);
  });
  // The desk's single-key shortcuts (studio.js, on document) must not act
  // on the queue behind these dialogs.
  // (Escape still closes them: that is the dialog's default action.)
  for (const d of [dialog, endDialog]) d.addEventListener('keydown', (ev) => ev.stopPropagation());
  onLangChange(render);
  checkRole();
  const studio = $('#studio');
  if (studio) new MutationObserver(checkRole).observe(studio, { attributes: true, attributeFilter: ['data-state'] });
}
