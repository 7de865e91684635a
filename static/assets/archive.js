// Archive page (/archive): sessions with their figures, and per session a
// search over its comments (Arabic-normalised on the server), a chart of
// comments per minute with on-air periods, the top comments by votes, the
// session's polls, the export downloads (the record, captions, polls and
// decisions) and a link to the decision report (/report?id=N).
//
// Also the shared part of the report page (report.js imports the strings,
// formatting, login and chart from here); the archive page itself only
// starts on <body class="page-archive">.
//
// API (JSON shapes: server/archive/queries.h):
//   GET /api/v1/archive/sessions
//   GET /api/v1/archive/sessions/{id}/comments?q=&status=&source=&author=&limit=&offset=
//   GET /api/v1/archive/sessions/{id}/timeline
//   GET /api/v1/archive/sessions/{id}/top?limit=N
//   GET /api/v1/archive/sessions/{id}/outcomes   (polls and answered questions)
//   GET /api/v1/sessions/{id}/export?format=F   (downloads)
// All user text goes through textContent; no inline scripts or styles.
import { t, tn, addStrings, onLangChange, getLang, fmtNumber, sessionTitle, sourceLabel } from './i18n.js';
import { el, $, dirOf } from './dom.js';
import { api, errorCode, initShell, setupLogin as setupShellLogin } from './shell.js';

export { api, errorCode, sourceLabel };

// ---------- strings ----------

const STRINGS = {
  ar: {
    archive_name: 'الأرشيف',
    report_name: 'تقرير القرار',
    login_title_archive: 'تسجيل الدخول إلى الأرشيف',
    err_forbidden: 'الأرشيف متاح للأرشيفيين والمنتجين فقط.',
    err_load: 'تعذّر تحميل البيانات ({code}).',
    loading: 'جارٍ التحميل…',
    sessions_title: 'الجلسات',
    sessions_count: { zero: 'لا جلسات', one: 'جلسة واحدة', two: 'جلستان', few: '{n} جلسات', many: '{n} جلسة', other: '{n} جلسة' },
    sessions_empty: 'لا توجد جلسات بعد.',
    col_title: 'الجلسة',
    col_date: 'التاريخ',
    col_duration: 'المدة',
    col_peak: 'ذروة المشاهدة',
    col_received: 'المستلمة',
    col_approved: 'المنشورة',
    col_aired: 'على الشاشة',
    col_recordings: 'التسجيلات',
    status_scheduled: 'مجدولة',
    status_live: 'مباشر',
    status_ended: 'منتهية',
    select_hint: 'اختر جلسة من القائمة لعرض سجلّها.',
    fig_received: 'مستلمة',
    fig_approved: 'منشورة',
    fig_rejected: 'مرفوضة',
    fig_hidden: 'مخفية',
    fig_pending: 'بلا قرار',
    fig_aired: 'عُرضت على الشاشة',
    fig_peak: 'ذروة المشاهدين',
    fig_duration: 'مدة البث',
    retention_forever: 'تُحفظ دائمًا',
    retention_days: {
      one: 'تُحفظ يومًا واحدًا بعد انتهائها', two: 'تُحفظ يومين بعد انتهائها', few: 'تُحفظ {n} أيام بعد انتهائها',
      many: 'تُحفظ {n} يومًا بعد انتهائها', other: 'تُحفظ {n} يوم بعد انتهائها',
    },
    recordings_n: { one: 'ملف واحد', two: 'ملفان', few: '{n} ملفات', many: '{n} ملفًا', other: '{n} ملف' },
    recordings_title: 'ملفات التسجيل',
    chart_title: 'التعليقات في كل دقيقة',
    chart_aria: 'رسم بياني للتعليقات في كل دقيقة من الجلسة، مع فترات العرض على الشاشة',
    chart_empty: 'لا توجد تعليقات في هذه الجلسة.',
    chart_tip: 'الدقيقة {m}: {received} مستلمة · {approved} منشورة · {rejected} مرفوضة',
    chart_onair_tip: 'على الشاشة {from}–{to}: {author}',
    chart_onair_open_tip: 'على الشاشة منذ {from} وما زال: {author}',
    onair_still: 'ما زال على الشاشة',
    chart_truncated: 'الرسم مقتطع: الجلسة أطول من المعروض.',
    legend_approved: 'منشورة',
    legend_rejected: 'مرفوضة',
    legend_other: 'بلا قرار أو مخفية',
    legend_onair: 'فترة عرض على الشاشة',
    search_title: 'البحث في التعليقات',
    search_label: 'كلمة أو عبارة',
    search_placeholder: 'مثال: احمد، المدرسة…',
    search_hint: 'البحث لا يتأثر بالهمزات والتشكيل والتطويل.',
    filter_status: 'الحالة',
    filter_all: 'الكل',
    filter_source: 'المصدر',
    sources_fact: 'المصادر: {list}',
    filter_source_ph: 'web، youtube…',
    filter_author: 'الكاتب',
    search_submit: 'بحث',
    search_count: { zero: 'لا نتائج', one: 'نتيجة واحدة', two: 'نتيجتان', few: '{n} نتائج', many: '{n} نتيجة', other: '{n} نتيجة' },
    search_count_more: {
      one: 'أول نتيجة — توجد نتائج أخرى', two: 'أول نتيجتين — توجد نتائج أخرى', few: 'أول {n} نتائج — توجد نتائج أخرى',
      many: 'أول {n} نتيجة — توجد نتائج أخرى', other: 'أول {n} نتيجة — توجد نتائج أخرى',
    },
    search_empty: 'لا توجد تعليقات مطابقة.',
    search_partial: 'توقف البحث مبكرًا لكِبَر الجلسة؛ ضيّق البحث لنتائج أدق.',
    load_more: 'عرض المزيد',
    st_pending: 'بلا قرار',
    st_approved: 'منشور',
    st_rejected: 'مرفوض',
    st_hidden: 'مخفي',
    aired_badge: 'عُرض على الشاشة',
    votes_label: { zero: 'بلا أصوات', one: 'صوت واحد', two: 'صوتان', few: '{n} أصوات', many: '{n} صوتًا', other: '{n} صوت' },
    top_title: 'الأكثر تأييدًا',
    top_empty: 'لا توجد تعليقات.',
    exports_title: 'تصدير السجل',
    export_csv: 'جدول لإكسل',
    export_json: 'السجل الكامل',
    export_ndjson: 'الأحداث بالترتيب',
    export_vtt: 'ترجمة ما عُرض',
    export_srt: 'ترجمة ما عُرض',
    'export_chat-vtt': 'إعادة الدردشة',
    export_audit: 'سجل التدقيق المتسلسل',
    report_open: 'تقرير القرار للطباعة',
    offset_label: 'عند {offset}',
    // report
    report_facts: 'بيانات الجلسة',
    report_figures: 'الأرقام',
    report_chart: 'نشاط التعليقات',
    report_top: 'أبرز الأسئلة حسب التأييد',
    report_aired: 'ما عُرض على الشاشة بالترتيب',
    report_aired_none: 'لم يُعرض أي تعليق على الشاشة.',
    report_print: 'طباعة',
    report_back: 'العودة إلى الأرشيف',
    report_generated: 'أُعدّ في {time} بواسطة {name}',
    report_no_id: 'لم تُحدَّد جلسة. افتح التقرير من صفحة الأرشيف.',
    report_not_found: 'لا توجد جلسة بهذا الرقم.',
    report_session_no: 'جلسة رقم {id}',
    fact_title_ar: 'العنوان بالعربية',
    fact_title_en: 'العنوان بالإنجليزية',
    fact_status: 'الحالة',
    fact_created: 'أُنشئت',
    fact_live: 'بدأ البث',
    fact_ended: 'انتهت',
    fact_duration: 'المدة',
    fact_peak: 'ذروة المشاهدين',
    fact_retention: 'مدة الحفظ',
    fact_recordings: 'التسجيلات',
    col_rank: '#',
    col_question: 'السؤال أو التعليق',
    col_author: 'الكاتب',
    col_votes: 'التأييد',
    col_status: 'القرار',
    col_onair: 'على الشاشة',
    col_time: 'التوقيت',
    yes: 'نعم',
    no: 'لا',
    none: '—',
  },
  en: {
    archive_name: 'Archive',
    report_name: 'Decision report',
    login_title_archive: 'Sign in to the archive',
    err_forbidden: 'The archive is for archivists and producers.',
    err_load: 'Could not load the data ({code}).',
    loading: 'Loading…',
    sessions_title: 'Sessions',
    sessions_count: { one: '1 session', other: '{n} sessions' },
    sessions_empty: 'No sessions yet.',
    col_title: 'Session',
    col_date: 'Date',
    col_duration: 'Duration',
    col_peak: 'Peak viewers',
    col_received: 'Received',
    col_approved: 'Approved',
    col_aired: 'Aired',
    col_recordings: 'Recordings',
    status_scheduled: 'Scheduled',
    status_live: 'Live',
    status_ended: 'Ended',
    select_hint: 'Choose a session from the list to see its record.',
    fig_received: 'Received',
    fig_approved: 'Approved',
    fig_rejected: 'Rejected',
    fig_hidden: 'Hidden',
    fig_pending: 'Undecided',
    fig_aired: 'Aired on screen',
    fig_peak: 'Peak viewers',
    fig_duration: 'Broadcast time',
    retention_forever: 'Kept forever',
    retention_days: { one: 'Kept 1 day after it ended', other: 'Kept {n} days after it ended' },
    recordings_n: { one: '1 file', other: '{n} files' },
    recordings_title: 'Recording files',
    chart_title: 'Comments per minute',
    chart_aria: 'Chart of comments per minute of the session, with on-air periods',
    chart_empty: 'No comments in this session.',
    chart_tip: 'Minute {m}: {received} received · {approved} approved · {rejected} rejected',
    chart_onair_tip: 'On air {from}–{to}: {author}',
    chart_onair_open_tip: 'On air since {from}, still on screen: {author}',
    onair_still: 'still on air',
    chart_truncated: 'Chart cut short: the session is longer than shown.',
    legend_approved: 'Approved',
    legend_rejected: 'Rejected',
    legend_other: 'Undecided or hidden',
    legend_onair: 'On air',
    search_title: 'Search comments',
    search_label: 'Word or phrase',
    search_placeholder: 'e.g. احمد, school…',
    search_hint: 'Hamza forms, diacritics and tatweel do not matter.',
    filter_status: 'Status',
    filter_all: 'All',
    filter_source: 'Source',
    sources_fact: 'Sources: {list}',
    filter_source_ph: 'web, youtube…',
    filter_author: 'Author',
    search_submit: 'Search',
    search_count: { one: '1 result', other: '{n} results' },
    search_count_more: { one: 'First result — there are more', other: 'First {n} results — there are more' },
    search_empty: 'No matching comments.',
    search_partial: 'The search stopped early on this large session; narrow it down for complete results.',
    load_more: 'Show more',
    st_pending: 'Undecided',
    st_approved: 'Approved',
    st_rejected: 'Rejected',
    st_hidden: 'Hidden',
    aired_badge: 'Aired',
    votes_label: { one: '1 vote', other: '{n} votes' },
    top_title: 'Top comments by votes',
    top_empty: 'No comments.',
    exports_title: 'Export the record',
    export_csv: 'Spreadsheet (Excel)',
    export_json: 'Full record',
    export_ndjson: 'Events in order',
    export_vtt: 'On-air captions',
    export_srt: 'On-air captions',
    'export_chat-vtt': 'Chat replay',
    export_audit: 'Hash-chained audit log',
    report_open: 'Printable decision report',
    offset_label: 'at {offset}',
    report_facts: 'Session facts',
    report_figures: 'Figures',
    report_chart: 'Comment activity',
    report_top: 'Top questions by votes',
    report_aired: 'Aired comments in order',
    report_aired_none: 'No comment was shown on screen.',
    report_print: 'Print',
    report_back: 'Back to the archive',
    report_generated: 'Prepared {time} by {name}',
    report_no_id: 'No session given. Open the report from the archive page.',
    report_not_found: 'There is no session with this number.',
    report_session_no: 'Session no. {id}',
    fact_title_ar: 'Title (Arabic)',
    fact_title_en: 'Title (English)',
    fact_status: 'Status',
    fact_created: 'Created',
    fact_live: 'Went live',
    fact_ended: 'Ended',
    fact_duration: 'Duration',
    fact_peak: 'Peak viewers',
    fact_retention: 'Retention',
    fact_recordings: 'Recordings',
    col_rank: '#',
    col_question: 'Question or comment',
    col_author: 'Author',
    col_votes: 'Votes',
    col_status: 'Decision',
    col_onair: 'On screen',
    col_time: 'Time',
    yes: 'Yes',
    no: 'No',
    none: '—',
  },
};

addStrings(STRINGS);

// The archive's strings live in the shared table (addStrings above); `tr`
// and `data-t` stay as this module's names for them.
export const tr = t;

// data-t="key" -> textContent; data-t-attr="placeholder:key;aria-label:key2".
export function applyTr(root = document) {
  for (const node of root.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  for (const node of root.querySelectorAll('[data-t-attr]')) {
    for (const pair of node.dataset.tAttr.split(';')) {
      const [attr, key] = pair.split(':').map((x) => x.trim());
      if (attr && key) node.setAttribute(attr, t(key));
    }
  }
}

// ---------- formatting ----------

function locale() { return getLang() === 'ar' ? 'ar-u-nu-latn' : 'en-GB'; }

export function fmtDate(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return tr('none');
  try {
    return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'long', year: 'numeric' }).format(new Date(ms));
  } catch { return new Date(ms).toISOString().slice(0, 10); }
}

export function fmtDateTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return tr('none');
  try {
    return new Intl.DateTimeFormat(locale(), {
      day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit',
    }).format(new Date(ms));
  } catch { return new Date(ms).toISOString().slice(0, 16).replace('T', ' '); }
}

// "1:05:09" / "5:09" (stream offsets, durations); negative offsets get a minus.
export function fmtOffset(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return tr('none');
  const sign = ms < 0 ? '-' : '';
  let s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const mm = String(m).padStart(h ? 2 : 1, '0');
  return `${sign}${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export function fmtDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return tr('none');
  return fmtOffset(ms);
}

export function statusLabel(status) { return tr(`st_${status}`); }
export function sessionStatusLabel(status) { return tr(`status_${status}`); }

export function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${fmtNumber(i ? Math.round(v * 10) / 10 : v)} ${units[i]}`;
}


// ---------- API and login ----------

export const ARCHIVE_ROLES = ['archivist', 'producer'];
export const EXPORT_FORMATS = ['csv', 'json', 'ndjson', 'vtt', 'srt', 'chat-vtt', 'audit',
  'polls', 'polls-json', 'decisions', 'decisions-json'];

export function exportUrl(id, format) {
  return `/api/v1/sessions/${encodeURIComponent(id)}/export?format=${encodeURIComponent(format)}`;
}

// The sign-in form and header items (shell.js), as the archive and report
// pages call it: onReady(me) once signed in, onLoggedOut() when signed out.
export function setupLogin(onReady, onLoggedOut) {
  return setupShellLogin({ onReady, onLoggedOut });
}

// ---------- chart ----------

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(max, target) {
  const raw = Math.max(1, max / target);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

// Draws the timeline (queries.h "timeline") into an <svg> it returns:
// one column per minute, approved / rejected / other stacked, on-air
// periods as bands behind the bars and marks under the axis. Time runs left
// to right in both languages (as on a recording's scrubber).
export function drawChart(timeline, { width = 960, height = 280 } = {}) {
  const minutes = Array.isArray(timeline.minutes) ? timeline.minutes : [];
  const periods = Array.isArray(timeline.on_air) ? timeline.on_air : [];
  const bucket = timeline.bucket_ms || 60000;
  const duration = timeline.session && typeof timeline.session.duration_ms === 'number' ? timeline.session.duration_ms : 0;
  let first = 0;
  let last = Math.max(0, Math.ceil(duration / bucket) - 1);
  for (const m of minutes) { first = Math.min(first, m.minute); last = Math.max(last, m.minute); }
  for (const p of periods) last = Math.max(last, Math.floor((p.to_ms - 1) / bucket));
  const count = last - first + 1;
  const maxY = Math.max(1, ...minutes.map((m) => m.received || 0));
  const yStep = niceStep(maxY, 4);
  const yMax = Math.ceil(maxY / yStep) * yStep;

  const pad = { left: 44, right: 12, top: 12, bottom: 46 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const colW = plotW / count;
  const xOfMs = (ms) => pad.left + ((ms / bucket) - first) * colW;
  const yOf = (n) => pad.top + plotH - (n / yMax) * plotH;

  const root = svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': tr('chart_aria'),
    dir: 'ltr', preserveAspectRatio: 'xMidYMid meet', 'data-minutes': count,
  });
  root.append(svg('title', {}, tr('chart_aria')));

  // Grid and y labels.
  const grid = svg('g', { class: 'chart-grid' });
  for (let v = 0; v <= yMax; v += yStep) {
    const y = yOf(v);
    grid.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
    grid.append(svg('text', { x: pad.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, fmtNumber(v)));
  }
  root.append(grid);

  // On-air bands behind the bars.
  const bands = svg('g', { class: 'chart-onair' });
  for (const p of periods) {
    const x = xOfMs(p.from_ms);
    const w = Math.max(2, xOfMs(p.to_ms) - x);
    const band = svg('rect', { x, y: pad.top, width: w, height: plotH, class: 'onair-band' });
    // A comment still on screen (live session): its band runs to now.
    const tip = () => svg('title', {}, p.on_air_now
      ? tr('chart_onair_open_tip', { from: fmtOffset(p.from_ms), author: p.author || '' })
      : tr('chart_onair_tip', { from: fmtOffset(p.from_ms), to: fmtOffset(p.to_ms), author: p.author || '' }));
    if (p.on_air_now) band.setAttribute('data-open', 'true');
    band.append(tip());
    bands.append(band);
    const mark = svg('rect', { x, y: pad.top + plotH + 3, width: w, height: 6, rx: 2, class: 'onair-mark' });
    if (p.on_air_now) mark.setAttribute('data-open', 'true');
    mark.append(tip());
    bands.append(mark);
  }
  root.append(bands);

  // Stacked bars.
  const bars = svg('g', { class: 'chart-bars' });
  const gap = colW > 6 ? Math.min(3, colW * 0.2) : 0;
  for (const m of minutes) {
    const x = pad.left + (m.minute - first) * colW + gap / 2;
    const w = Math.max(1, colW - gap);
    const col = svg('g', { class: 'bar', 'data-minute': m.minute, 'data-received': m.received });
    const parts = [
      ['approved', m.approved || 0],
      ['rejected', m.rejected || 0],
      ['other', Math.max(0, (m.received || 0) - (m.approved || 0) - (m.rejected || 0))],
    ];
    let base = 0;
    for (const [kind, n] of parts) {
      if (!n) continue;
      const y1 = yOf(base + n);
      const y0 = yOf(base);
      col.append(svg('rect', { x, y: y1, width: w, height: Math.max(0.5, y0 - y1), class: `bar-${kind}` }));
      base += n;
    }
    col.append(svg('title', {}, tr('chart_tip', {
      m: fmtOffset(m.minute * bucket), received: fmtNumber(m.received || 0),
      approved: fmtNumber(m.approved || 0), rejected: fmtNumber(m.rejected || 0),
    })));
    bars.append(col);
  }
  root.append(bars);

  // X axis with minute ticks.
  const axis = svg('g', { class: 'chart-axis' });
  const baseY = pad.top + plotH;
  axis.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: baseY, y2: baseY }));
  const xStep = niceStep(count, Math.max(2, Math.floor(plotW / 70)));
  const startTick = Math.ceil(first / xStep) * xStep;
  for (let mi = startTick; mi <= last + 1; mi += xStep) {
    const x = pad.left + (mi - first) * colW;
    axis.append(svg('line', { x1: x, x2: x, y1: baseY, y2: baseY + 12, class: 'tick' }));
    axis.append(svg('text', { x, y: baseY + 26, 'text-anchor': 'middle', class: 'chart-label' }, fmtOffset(mi * bucket)));
  }
  root.append(axis);
  return root;
}

export function chartLegend() {
  const item = (kind, key) => el('li', { class: `legend-item legend-${kind}` }, el('span', { class: 'swatch', 'aria-hidden': 'true' }), tr(key));
  return el('ul', { class: 'chart-legend' },
    item('approved', 'legend_approved'), item('rejected', 'legend_rejected'),
    item('other', 'legend_other'), item('onair', 'legend_onair'));
}

// ---------- archive page ----------

const PAGE = 50;

function startArchivePage() {
  const ui = {
    main: $('#archive'),
    notice: $('#archive-notice'),
    sessions: $('#sessions'),
    sessionsBody: $('#sessions-body'),
    sessionsEmpty: $('#sessions-empty'),
    sessionsCount: $('#sessions-count'),
    hint: $('#select-hint'),
    detail: $('#detail'),
    title: $('#detail-title'),
    subtitle: $('#detail-subtitle'),
    status: $('#detail-status'),
    figures: $('#figures'),
    facts: $('#detail-facts'),
    recordings: $('#recordings'),
    recordingsList: $('#recordings-list'),
    exports: $('#exports'),
    report: $('#report-link'),
    chart: $('#chart'),
    chartNote: $('#chart-note'),
    legend: $('#chart-legend'),
    searchForm: $('#search-form'),
    q: $('#search-q'),
    status_: $('#search-status'),
    source: $('#search-source'),
    author: $('#search-author'),
    results: $('#results'),
    resultsInfo: $('#results-info'),
    more: $('#results-more'),
    top: $('#top'),
    topEmpty: $('#top-empty'),
    polls: $('#polls'),
    pollsEmpty: $('#polls-empty'),
  };

  const state = {
    me: null,
    sessions: [],
    selected: null, // session id
    timeline: null,
    top: null,
    outcomes: null,
    search: { params: null, items: [], more: false, partial: false, seq: 0 },
  };

  let auth = null;

  function showNotice(key, vars) {
    ui.notice.hidden = !key;
    ui.notice.textContent = key ? tr(key, vars) : '';
  }

  async function get(path) {
    const res = await api('GET', path);
    if (res.status === 401) { auth.expired(); throw new Error('unauthorized'); }
    if (res.status === 403) { showNotice('err_forbidden'); throw new Error('forbidden'); }
    if (!res.ok || !res.data) { showNotice('err_load', { code: errorCode(res) }); throw new Error(String(res.status)); }
    return res.data;
  }

  // ----- sessions list -----

  async function loadSessions() {
    ui.sessionsEmpty.hidden = true;
    ui.sessions.dataset.state = 'loading';
    try {
      const data = await get('/api/v1/archive/sessions');
      state.sessions = Array.isArray(data.sessions) ? data.sessions.slice().reverse() : [];
      showNotice(null);
    } catch { state.sessions = []; }
    ui.sessions.dataset.state = 'ready';
    renderSessions();
    const wanted = Number(new URLSearchParams(location.search).get('id'));
    const pick = state.sessions.find((s) => s.id === wanted);
    if (pick) selectSession(pick.id, { push: false });
  }

  function renderSessions() {
    ui.sessionsEmpty.hidden = state.sessions.length > 0;
    ui.sessionsCount.textContent = state.sessions.length ? tn('sessions_count', state.sessions.length) : '';
    const rows = state.sessions.map((s) => {
      const title = sessionTitle(s) || tr('report_session_no', { id: s.id });
      const pick = el('button', { type: 'button', class: 'session-pick', dataset: { id: s.id } },
        el('bdi', { class: 'session-name', text: title }));
      const recs = Array.isArray(s.recordings) ? s.recordings.length : 0;
      return el('tr', {
        class: 'session-row', dataset: { id: s.id, status: s.status || '' },
        'aria-selected': state.selected === s.id ? 'true' : 'false',
      },
      el('th', { scope: 'row', class: 'cell-title' }, el('div', { class: 'cell-title-inner' }, pick,
        el('span', { class: `status-pill status-${s.status}`, text: sessionStatusLabel(s.status) }))),
      el('td', { class: 'cell-date', text: fmtDate(s.live_at_ms ?? s.created_at_ms) }),
      el('td', { class: 'num', text: fmtDuration(s.duration_ms) }),
      el('td', { class: 'num', text: fmtNumber(s.viewers_peak || 0) }),
      el('td', { class: 'num', text: fmtNumber(s.received || 0) }),
      el('td', { class: 'num', text: fmtNumber(s.approved || 0) }),
      el('td', { class: 'num', text: fmtNumber(s.aired || 0) }),
      el('td', { class: 'num', text: recs ? tn('recordings_n', recs) : tr('none') }));
    });
    ui.sessionsBody.replaceChildren(...rows);
  }

  ui.sessionsBody.addEventListener('click', (ev) => {
    const btn = ev.target.closest('.session-pick');
    if (btn) selectSession(Number(btn.dataset.id));
  });

  // ----- one session -----

  function currentSession() { return state.sessions.find((s) => s.id === state.selected) || null; }

  async function selectSession(id, { push = true } = {}) {
    state.selected = id;
    for (const row of ui.sessionsBody.querySelectorAll('tr')) row.setAttribute('aria-selected', Number(row.dataset.id) === id ? 'true' : 'false');
    if (push) history.replaceState(null, '', `/archive?id=${encodeURIComponent(id)}`);
    ui.hint.hidden = true;
    ui.detail.hidden = false;
    ui.detail.dataset.id = String(id);
    state.timeline = null;
    state.top = null;
    state.outcomes = null;
    renderDetail();
    renderPolls();
    ui.chart.replaceChildren(el('p', { class: 'empty', text: tr('loading') }));
    resetSearch();
    const loads = [
      get(`/api/v1/archive/sessions/${id}/timeline`).then((d) => { if (state.selected === id) { state.timeline = d; renderChart(); } }),
      get(`/api/v1/archive/sessions/${id}/top?limit=10`).then((d) => { if (state.selected === id) { state.top = d; renderTop(); } }),
      get(`/api/v1/archive/sessions/${id}/outcomes`).then((d) => { if (state.selected === id) { state.outcomes = d; renderPolls(); } }),
      runSearch(),
    ];
    await Promise.allSettled(loads);
    ui.detail.dataset.state = 'ready';
  }

  function figure(key, value, kind) {
    return el('div', { class: 'figure', dataset: { kind } }, el('dt', { text: tr(key) }), el('dd', { text: value }));
  }

  // Comments per source (the web page, each bridge), largest first; nothing
  // when every comment came from the web page.
  function sourcesFact(sources) {
    const entries = Object.entries(sources || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    if (entries.length === 0 || (entries.length === 1 && entries[0][0] === 'web')) return null;
    const list = entries.map(([name, n]) => `${sourceLabel(name)} ${fmtNumber(n)}`).join(' · ');
    return el('span', { class: 'sources-fact', dir: 'auto', text: tr('sources_fact', { list }) });
  }

  function renderDetail() {
    const s = currentSession();
    if (!s) return;
    ui.detail.dataset.state = 'loading';
    const title = sessionTitle(s) || tr('report_session_no', { id: s.id });
    const other = getLang() === 'ar' ? s.title_en : s.title_ar;
    ui.title.textContent = title;
    ui.subtitle.textContent = other && other !== title ? other : '';
    ui.subtitle.hidden = !ui.subtitle.textContent;
    ui.status.textContent = sessionStatusLabel(s.status);
    ui.status.className = `status-pill status-${s.status}`;
    ui.facts.replaceChildren(...[
      el('span', { text: fmtDateTime(s.live_at_ms ?? s.created_at_ms) }),
      el('span', { text: s.retention_days === null || s.retention_days === undefined
        ? tr('retention_forever') : tn('retention_days', s.retention_days) }),
      sourcesFact(s.sources)].filter(Boolean));
    ui.figures.replaceChildren(
      figure('fig_received', fmtNumber(s.received || 0), 'received'),
      figure('fig_approved', fmtNumber(s.approved || 0), 'approved'),
      figure('fig_rejected', fmtNumber(s.rejected || 0), 'rejected'),
      figure('fig_hidden', fmtNumber(s.hidden || 0), 'hidden'),
      figure('fig_aired', fmtNumber(s.aired || 0), 'aired'),
      figure('fig_peak', fmtNumber(s.viewers_peak || 0), 'peak'),
      figure('fig_duration', fmtDuration(s.duration_ms), 'duration'));
    const recs = Array.isArray(s.recordings) ? s.recordings : [];
    ui.recordings.hidden = recs.length === 0;
    ui.recordingsList.replaceChildren(...recs.map((r) => el('li', {},
      el('bdi', { class: 'file-name', dir: 'ltr', text: r.name }), ' ', el('bdi', { class: 'hint', dir: 'ltr', text: fmtBytes(r.bytes) }))));
    ui.exports.replaceChildren(...EXPORT_FORMATS.map((f) => el('a', {
      class: 'btn btn-small export-link', href: exportUrl(s.id, f), download: '', dataset: { format: f },
    }, el('span', { class: 'export-ext', dir: 'ltr', text: f.toUpperCase() }), el('span', { text: tr(`export_${f}`) }))));
    ui.report.href = `/report?id=${encodeURIComponent(s.id)}`;
  }

  function renderChart() {
    if (!state.timeline) return;
    const minutes = state.timeline.minutes || [];
    if (!minutes.length && !(state.timeline.on_air || []).length) {
      ui.chart.replaceChildren(el('p', { class: 'empty', text: tr('chart_empty') }));
    } else {
      ui.chart.replaceChildren(drawChart(state.timeline));
    }
    ui.chartNote.hidden = !state.timeline.truncated;
    ui.chartNote.textContent = state.timeline.truncated ? tr('chart_truncated') : '';
    ui.legend.replaceChildren(chartLegend());
  }

  function commentItem(c, { rank } = {}) {
    const author = c.author || t('anonymous');
    const meta = el('div', { class: 'comment-meta' },
      rank ? el('span', { class: 'rank', text: fmtNumber(rank) }) : null,
      el('bdi', { class: `comment-name${c.author ? '' : ' is-anon'}`, text: author }),
      el('span', { class: 'offset', dir: 'ltr', text: fmtOffset(c.stream_offset_ms) }),
      c.source && c.source !== 'web' ? el('span', { class: 'source', text: sourceLabel(c.source) }) : null,
      el('span', { class: `status-pill st-${c.status}`, text: statusLabel(c.status) }),
      c.aired ? el('span', { class: 'aired-pill', text: tr('aired_badge') }) : null,
      el('span', { class: 'votes', text: tn('votes_label', c.votes || 0) }));
    return el('li', { class: 'comment', dataset: { id: c.id, status: c.status } },
      meta, el('p', { class: 'comment-text', dir: dirOf(c.dir), lang: c.lang || null, text: c.text }));
  }

  function renderTop() {
    const list = (state.top && state.top.comments) || [];
    ui.topEmpty.hidden = list.length > 0;
    ui.top.replaceChildren(...list.map((c, i) => commentItem(c, { rank: i + 1 })));
  }

  // Every poll of the session, drafts too (the archive keeps what was
  // prepared): question in both languages, status and how many voted.
  function renderPolls() {
    const polls = (state.outcomes && state.outcomes.polls) || [];
    ui.pollsEmpty.hidden = !state.outcomes || polls.length > 0;
    ui.polls.replaceChildren(...polls.map((p) => {
      const [first, second] = getLang() === 'ar' ? [p.question_ar, p.question_en] : [p.question_en, p.question_ar];
      return el('li', { class: 'archive-poll', dataset: { poll: p.id, status: p.status } },
        el('p', { class: 'poll-question', dir: 'auto', text: first || second || '' }),
        first && second && first !== second ? el('p', { class: 'poll-question other-lang', dir: 'auto', text: second }) : null,
        el('div', { class: 'comment-meta' },
          el('span', { class: `status-pill poll-${p.status}`, text: tr(`poll_status_${p.status}`) }),
          el('span', { class: 'poll-total', text: tn('poll_ballots', p.total || 0) })));
    }));
  }

  // ----- search -----

  function resetSearch() {
    state.search = { params: null, items: [], more: false, partial: false, seq: state.search.seq + 1 };
    ui.results.replaceChildren();
    ui.resultsInfo.textContent = '';
    ui.more.hidden = true;
  }

  function searchParams() {
    return { q: ui.q.value.trim(), status: ui.status_.value, source: ui.source.value.trim(), author: ui.author.value.trim() };
  }

  async function runSearch({ append = false } = {}) {
    const id = state.selected;
    if (!id) return;
    const params = append && state.search.params ? state.search.params : searchParams();
    const offset = append ? state.search.items.length : 0;
    const seq = ++state.search.seq;
    const qs = new URLSearchParams({ ...params, limit: String(PAGE), offset: String(offset) });
    ui.results.setAttribute('aria-busy', 'true');
    ui.more.disabled = true;
    try {
      const data = await get(`/api/v1/archive/sessions/${id}/comments?${qs}`);
      if (seq !== state.search.seq || id !== state.selected) return;
      const items = Array.isArray(data.comments) ? data.comments : [];
      state.search.params = params;
      state.search.items = append ? state.search.items.concat(items) : items;
      state.search.more = !!data.more;
      state.search.partial = !!data.partial;
      if (append) ui.results.append(...items.map((c) => commentItem(c)));
      else ui.results.replaceChildren(...items.map((c) => commentItem(c)));
      renderSearchInfo();
    } catch { /* notice shown */ } finally {
      if (seq === state.search.seq) {
        ui.results.removeAttribute('aria-busy');
        ui.more.disabled = false;
      }
    }
  }

  function renderSearchInfo() {
    const n = state.search.items.length;
    const info = n === 0 ? tr('search_empty')
      : tn(state.search.more ? 'search_count_more' : 'search_count', n);
    ui.resultsInfo.textContent = state.search.partial ? `${info} ${tr('search_partial')}` : info;
    ui.resultsInfo.dataset.count = String(n);
    ui.more.hidden = !state.search.more;
  }

  let debounce = null;
  ui.searchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearTimeout(debounce);
    runSearch();
  });
  for (const input of [ui.q, ui.source, ui.author]) {
    input.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => runSearch(), 300);
    });
  }
  ui.status_.addEventListener('change', () => runSearch());
  ui.more.addEventListener('click', () => runSearch({ append: true }));

  // ----- start -----

  onLangChange(() => {
    applyTr();
    document.title = `${t('app_name')} — ${tr('archive_name')}`;
    renderSessions();
    if (state.selected) {
      renderDetail();
      ui.detail.dataset.state = 'ready';
      renderChart();
      renderTop();
      renderPolls();
      ui.results.replaceChildren(...state.search.items.map((c) => commentItem(c)));
      if (state.search.params) renderSearchInfo();
    }
  });
  applyTr();
  document.title = `${t('app_name')} — ${tr('archive_name')}`;

  auth = setupLogin((me) => {
    state.me = me;
    if (me.role && !ARCHIVE_ROLES.includes(me.role)) {
      showNotice('err_forbidden');
      ui.main.hidden = true;
      return;
    }
    ui.main.hidden = false;
    loadSessions();
  }, () => {
    ui.main.hidden = true;
    state.selected = null;
    ui.detail.hidden = true;
    ui.hint.hidden = false;
    showNotice(null);
  });
}

if (document.body && document.body.classList.contains('page-archive')) {
  initShell();
  startArchivePage();
}
