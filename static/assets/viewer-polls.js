// The viewer page's live polls: the open (and this session's closed) polls
// from `welcome` and `poll` pushes, one button per option, the viewer's own
// ballot (from `voted`, or `mine` in the welcome), and the results when the
// server sends counts (it leaves them out while the results are not public).
// Every user text goes through textContent (dom.js el()).
import { t, addStrings, fmtNumber, getLang as lang } from './i18n.js';
import { el } from './dom.js';

addStrings({
  ar: {
    polls_title: 'استطلاع',
    poll_vote: 'صوّت',
    poll_change: 'غيّر صوتك',
    poll_voted: 'تم تسجيل صوتك',
    poll_closed: 'انتهى التصويت',
    poll_results_later: 'تظهر النتائج بعد انتهاء التصويت',
    poll_results_hidden: 'النتائج غير معلنة',
    poll_total: 'عدد الأصوات: {n}',
    poll_pick_up_to: 'اختر حتى {n}',
    poll_error_closed: 'انتهى التصويت في هذا الاستطلاع',
    poll_error_rate_limited: 'أصوات كثيرة من هذا الاتصال، حاول لاحقًا',
    poll_error_invalid: 'اختيار غير صالح',
    poll_error_not_found: 'الاستطلاع غير موجود',
    outcome_label: 'الرد: {s}',
    outcome_received: 'تم الاستلام', outcome_studying: 'قيد الدراسة', outcome_accepted: 'مقبول',
    outcome_implemented: 'تم التنفيذ', outcome_declined: 'مرفوض',
  },
  en: {
    polls_title: 'Poll',
    poll_vote: 'Vote',
    poll_change: 'Change vote',
    poll_voted: 'Your vote is in',
    poll_closed: 'Voting has ended',
    poll_results_later: 'Results appear when voting ends',
    poll_results_hidden: 'Results are not public',
    poll_total: '{n} votes',
    poll_pick_up_to: 'Choose up to {n}',
    poll_error_closed: 'This poll has closed',
    poll_error_rate_limited: 'Too many votes from this connection; try later',
    poll_error_invalid: 'That choice is not valid',
    poll_error_not_found: 'No such poll',
    outcome_label: 'Response: {s}',
    outcome_received: 'Received', outcome_studying: 'Under study', outcome_accepted: 'Accepted',
    outcome_implemented: 'Implemented', outcome_declined: 'Declined',
  },
});

// The outcome of one of the viewer's own comments (or null): status and note.
export function outcomeNode(o) {
  if (!o || typeof o.status !== 'string') return null;
  const note = (lang() === 'en' ? o.note_en : o.note_ar) || o.note_ar || o.note_en || '';
  return el('p', { class: 'mine-outcome', dataset: { status: o.status } },
    el('span', { class: 'mine-outcome-status', text: t('outcome_label', { s: t(`outcome_${o.status}`) }) }),
    note ? el('span', { class: 'mine-outcome-note', dir: 'auto', text: ` — ${note}` }) : null);
}

export class ViewerPolls {
  // `root`: the section that holds the polls; `send(msg)`: false when offline.
  constructor(root, send) {
    this.root = root;
    this.list = root.querySelector('.polls-list');
    this.send = send;
    this.polls = new Map();   // id -> poll as pushed
    this.mine = new Map();    // id -> [option indexes] of this viewer
    this.chosen = new Map();  // id -> Set of indexes picked but not sent (multiple choice)
    this.notes = new Map();   // id -> i18n key of the last error
  }

  setAll(polls) {
    this.polls.clear();
    this.mine.clear();
    for (const p of Array.isArray(polls) ? polls : []) {
      if (!p || !Number.isInteger(p.id)) continue;
      this.polls.set(p.id, p);
      if (Array.isArray(p.mine)) this.mine.set(p.id, p.mine);
    }
    this.render();
  }

  update(p) {
    if (!p || !Number.isInteger(p.id)) return;
    if (p.status === 'draft') this.polls.delete(p.id);
    else this.polls.set(p.id, p);
    this.render();
  }

  voted(msg) {
    if (!Number.isInteger(msg.poll) || !Array.isArray(msg.options)) return;
    if (this.pendingVote === msg.poll) this.pendingVote = null;
    this.mine.set(msg.poll, msg.options);
    this.chosen.delete(msg.poll);
    this.notes.delete(msg.poll);
    this.render();
  }

  // An error frame; only those about a vote just sent are ours.
  error(code) {
    if (!this.pendingVote) return false;
    const id = this.pendingVote;
    this.pendingVote = null;
    this.notes.set(id, `poll_error_${code}`);
    this.render();
    return true;
  }

  vote(id, options) {
    if (this.send({ type: 'poll_vote', poll: id, options })) this.pendingVote = id;
  }

  label(o) {
    const first = lang() === 'en' ? o.en : o.ar;
    return first || o.ar || o.en || '';
  }

  render() {
    this.list.replaceChildren();
    const shown = [...this.polls.values()].sort((a, b) => (a.status === b.status ? b.id - a.id : a.status === 'open' ? -1 : 1));
    this.root.hidden = shown.length === 0;
    for (const p of shown) this.list.append(this.renderPoll(p));
  }

  renderPoll(p) {
    const open = p.status === 'open';
    const mine = this.mine.get(p.id) || [];
    const picked = this.chosen.get(p.id) || new Set();
    const counts = Number.isInteger(p.total);
    const question = (lang() === 'en' ? p.question_en : p.question_ar) || p.question_ar || p.question_en || '';
    const item = el('li', { class: 'poll', dataset: { poll: p.id, status: p.status } },
      el('p', { class: 'poll-question', dir: 'auto', text: question }));
    const options = el('ol', { class: 'poll-options' });
    (p.options || []).forEach((o, i) => {
      const isMine = mine.includes(i);
      const li = el('li', { class: 'poll-option', dataset: { index: i, mine: isMine ? 'true' : 'false' } });
      const button = el('button', {
        class: 'btn poll-choice', type: 'button', dir: 'auto', disabled: !open,
        'aria-pressed': isMine || picked.has(i) ? 'true' : 'false', text: this.label(o),
      });
      button.addEventListener('click', () => {
        if (!p.multiple) { this.vote(p.id, [i]); return; }
        const set = new Set(this.chosen.get(p.id) || mine);
        if (set.has(i)) set.delete(i);
        else if (set.size < (p.max_choices || p.options.length)) set.add(i);
        this.chosen.set(p.id, set);
        this.render();
      });
      li.append(button);
      if (counts) {
        const votes = Number.isInteger(o.votes) ? o.votes : 0;
        const pct = p.total > 0 ? Math.round((votes * 100) / p.total) : 0;
        const bar = el('span', { class: 'poll-bar', 'aria-hidden': 'true' });
        bar.style.setProperty('--pct', `${pct}%`);
        li.append(bar, el('span', { class: 'poll-pct', text: `${fmtNumber(pct)}%` }));
      }
      options.append(li);
    });
    item.append(options);
    if (open && p.multiple) {
      const set = this.chosen.get(p.id);
      const send = el('button', { class: 'btn btn-primary btn-small poll-send', type: 'button',
        disabled: !set || set.size === 0, text: t(mine.length ? 'poll_change' : 'poll_vote') });
      send.addEventListener('click', () => this.vote(p.id, [...(this.chosen.get(p.id) || [])].sort((a, b) => a - b)));
      item.append(el('p', { class: 'poll-hint', text: t('poll_pick_up_to', { n: fmtNumber(p.max_choices || p.options.length) }) }), send);
    }
    const foot = [];
    if (mine.length) foot.push(t('poll_voted'));
    if (!open) foot.push(t('poll_closed'));
    if (counts) foot.push(t('poll_total', { n: fmtNumber(p.total) }));
    else foot.push(t(p.results === 'hidden' ? 'poll_results_hidden' : 'poll_results_later'));
    const note = this.notes.get(p.id);
    item.append(el('p', { class: 'poll-foot', role: 'status', text: foot.join(' · ') }));
    if (note) item.append(el('p', { class: 'poll-error', role: 'alert', text: t(note) }));
    return item;
  }
}
