// Sabla UI strings (Arabic and English) and the language switch.
// The language is the one the user chose on this browser (localStorage
// "sabla.lang"), else the server's `[session] default_language` (served as
// /site.js), else Arabic — never the browser's own language: the audience
// is Arabic-speaking whatever their device is set to. <html lang dir>
// follows it.
// Static markup is translated through data attributes:
//   data-i18n="key"                      -> textContent
//   data-i18n-attr="placeholder:key;title:key2;aria-label:key3"
// A page module adds its own strings with addStrings({ar:{…}, en:{…}}).
// Counts go through tn(key, n): the entry is then an object of plural
// forms (zero, one, two, few, many, other) chosen by Intl.PluralRules;
// Arabic uses all six ("شخص واحد", "شخصان", "5 أشخاص", "11 شخصًا").
import { defaultLanguage } from '/site.js';

const STRINGS = {
  ar: {
    app_name: 'سبلة',
    studio_name: 'الاستوديو',
    lang_toggle: 'English',
    lang_toggle_label: 'Switch to English',
    conn_connecting: 'جارٍ الاتصال…',
    conn_open: 'متصل',
    conn_waiting: 'انقطع الاتصال — إعادة المحاولة خلال {s} ث',
    conn_stopped: 'غير متصل',
    status_live: 'مباشر',
    status_offline: 'غير مباشر',
    video_placeholder: 'سيظهر البث هنا عند بدء الجلسة.',
    no_session: 'لا توجد جلسة الآن',
    name_label: 'اسمك (اختياري)',
    name_placeholder: 'مثال: مريم',
    comment_label: 'تعليقك أو سؤالك',
    comment_placeholder: 'اكتب تعليقك هنا…',
    send: 'إرسال',
    send_hint: 'Enter للإرسال · Shift+Enter لسطر جديد',
    mine_title: 'تعليقاتك',
    mine_pending: 'بانتظار المراجعة',
    mine_approved: 'منشور',
    mine_on_air: 'على الشاشة الآن',
    mine_rejected: 'لم يُنشر',
    mine_sending: 'جارٍ الإرسال',
    counter: '{n} / {max}',
    sending: 'جارٍ الإرسال…',
    queued_offline: 'لا يوجد اتصال — سيُرسل تعليقك عند عودة الاتصال.',
    ack_pending: 'أُرسل — بانتظار المراجعة',
    ack_approved: 'نُشر',
    ack_rejected: 'لم يُنشر تعليقك.',
    ack_other: 'أُرسل',
    err_rate_limited: 'ترسل بسرعة كبيرة. حاول مجددًا بعد {s} ث.',
    err_rate_limited_plain: 'ترسل بسرعة كبيرة. انتظر قليلًا ثم حاول مجددًا.',
    err_slow_mode: 'الوضع البطيء مفعّل. يمكنك التعليق مجددًا بعد {s} ث.',
    err_slow_mode_plain: 'الوضع البطيء مفعّل. انتظر قليلًا ثم حاول مجددًا.',
    err_too_long: 'التعليق أطول من المسموح ({max} حرفًا كحد أقصى).',
    err_empty: 'اكتب تعليقًا أولًا.',
    err_banned: 'لا يمكنك التعليق في الوقت الحالي.',
    err_no_session: 'لا توجد جلسة مباشرة لاستقبال التعليقات الآن.',
    err_invalid: 'تعذّر إرسال التعليق.',
    err_not_found: 'هذا التعليق لم يعد موجودًا.',
    err_vote_conflict: 'سبق أن صوّتَّ لهذا التعليق.',
    err_unknown: 'حدث خطأ ({code}).',
    err_impersonation: 'هذا الاسم يشبه اسم مشرف أو المتحدث أو سبلة نفسها. اختر اسمًا آخر.',
    feed_title: 'التعليقات',
    feed_empty: 'لا توجد تعليقات منشورة بعد.',
    vote_aria: 'تأييد ({n})',
    anonymous: 'زائر',
    // video (viewer)
    video_label: 'البث المباشر',
    video_loading: 'جارٍ تحميل البث…',
    video_retry: 'البث غير متاح الآن — إعادة المحاولة خلال {s} ث',
    video_unsupported: 'لا يستطيع هذا المتصفح تشغيل البث.',
    viewers_watching: {
      zero: 'لا أحد يشاهد الآن', one: 'يشاهد الآن شخص واحد', two: 'يشاهد الآن شخصان',
      few: 'يشاهد الآن {n} أشخاص', many: 'يشاهد الآن {n} شخصًا', other: 'يشاهد الآن {n} شخص',
    },
    unmute: 'تشغيل الصوت',
    monitor_whep: 'البرنامج · WebRTC',
    monitor_hls: 'البرنامج · HLS',
    sync_video: 'متزامن مع الفيديو',
    sync_live: 'فوري',
    sync_video_hint: 'تظهر التعليقات حين يصل إليها الفيديو. اضغط لعرضها فور وصولها.',
    sync_idle_hint: 'الفيديو لا يعمل الآن: تظهر التعليقات فور وصولها.',
    sync_live_hint: 'تظهر التعليقات فور وصولها، قبل الفيديو. اضغط لمزامنتها مع الفيديو.',
    // studio
    login_title: 'تسجيل الدخول إلى الاستوديو',
    login_name: 'اسم المستخدم',
    login_password: 'كلمة المرور',
    login_submit: 'دخول',
    login_bad: 'اسم المستخدم أو كلمة المرور غير صحيحة.',
    login_throttled: 'محاولات كثيرة. انتظر دقيقة ثم حاول مجددًا.',
    login_failed: 'تعذّر تسجيل الدخول ({code}).',
    login_expired: 'انتهت جلستك. سجّل الدخول مجددًا.',
    logout: 'خروج',
    role_producer: 'منتج',
    role_moderator: 'مشرف',
    role_archivist: 'أرشيفي',
    me: '{name} ({role})',
    counter_pending: 'بانتظار المراجعة',
    counter_approved: 'منشورة',
    counter_rejected: 'مرفوضة',
    counter_hidden: 'مخفية',
    counter_viewers: 'المشاهدون',
    queue_title: 'قائمة المراجعة',
    queue_empty: 'لا توجد تعليقات بانتظار المراجعة.',
    sort_label: 'الترتيب',
    sort_oldest: 'الأقدم أولًا',
    sort_newest: 'الأحدث أولًا',
    sort_votes: 'الأكثر تأييدًا أولًا',
    keys_title: 'مفاتيح الاختصار',
    keys_group_queue: 'قائمة المراجعة',
    keys_group_onair: 'على الهواء (للمنتجين)',
    keys_group_general: 'عام',
    key_select: 'تحديد تعليق في قائمة المراجعة',
    key_select_approved: 'تحديد تعليق في «نُشر مؤخرًا»',
    key_help: 'إظهار هذه القائمة',
    key_close: 'إغلاق النافذة',
    keys_note: 'تعمل المفاتيح بأي تخطيط للوحة المفاتيح، العربي أيضًا (المفتاح نفسه في موضعه).',
    action_clear: 'إخلاء الشاشة (طوارئ)',
    action_close: 'إغلاق',
    graphics_title: 'رسومات الشاشة',
    action_approve: 'نشر',
    action_reject: 'رفض',
    action_edit: 'تعديل',
    action_ban: 'حظر',
    action_hide: 'إخفاء',
    action_save: 'حفظ',
    action_cancel: 'إلغاء',
    action_ok: 'موافق',
    edit_hint: 'Enter للحفظ · Esc للإلغاء',
    prompt_reject: 'سبب الرفض (اختياري)',
    reject_title: 'رفض التعليق',
    reject_reason: 'السبب',
    reject_note: 'ملاحظة (اختيارية، تظهر في السجل)',
    reject_ok: 'رفض',
    reason_off_topic: 'خارج الموضوع',
    reason_abusive: 'مسيء',
    reason_duplicate: 'مكرر',
    reason_personal_data: 'بيانات شخصية',
    reason_other: 'سبب آخر',
    reason_other_needs_note: 'اكتب السبب في الملاحظة.',
    prompt_ban: 'مدة حظر هذا المشاهد بالثواني',
    ban_no_viewer: 'هذا التعليق لم يأتِ من مشاهد على الموقع، فلا يمكن حظر كاتبه.',
    ban_bad_seconds: 'أدخل عددًا صحيحًا موجبًا من الثواني.',
    viewer_banned: 'حُظر المشاهد {id} ({name}) حتى {time}.',
    viewer_unbanned: 'رُفع الحظر عن المشاهد {id} ({name}).',
    votes_n: '▲ {n}',
    source_label: 'المصدر: {source}',
    viewer_label: 'مشاهد {id}',
    reason_label: 'ملاحظة: {reason}',
    approved_title: 'نُشر مؤخرًا',
    approved_empty: 'لم يُنشر شيء بعد.',
    settings_title: 'الإعدادات',
    set_hold: 'مراجعة التعليقات قبل النشر',
    set_slow: 'الوضع البطيء (ثوانٍ بين تعليقين، 0 = إيقاف)',
    set_maxlen: 'أقصى طول للتعليق (حرفًا)',
    set_blocked: 'كلمات محظورة (كلمة في كل سطر)',
    set_action: 'عند وجود كلمة محظورة',
    set_action_hold: 'إبقاء التعليق للمراجعة',
    set_action_reject: 'رفض التعليق مباشرة',
    settings_save: 'حفظ الإعدادات',
    settings_saved: 'حُفظت الإعدادات.',
    // The producer's desk: sessions (assets/studio-sessions.js).
    sessions_open: 'الجلسات',
    sessions_title: 'إدارة الجلسات',
    session_new: 'جلسة جديدة',
    session_title_ar: 'العنوان بالعربية',
    session_title_en: 'العنوان بالإنجليزية',
    session_scheduled: 'موعد البدء (اختياري)',
    session_create: 'إنشاء الجلسة',
    session_save: 'حفظ',
    session_go_live: 'بدء البث المباشر',
    session_end: 'إنهاء الجلسة',
    session_end_title: 'إنهاء الجلسة؟',
    session_end_text: 'ستنتهي الجلسة «{title}» ويتوقف استقبال التعليقات فيها. لا يمكن التراجع عن ذلك.',
    session_end_confirm: 'نعم، أنهِ الجلسة',
    session_status_scheduled: 'مجدولة',
    session_status_live: 'مباشرة',
    session_status_ended: 'انتهت',
    session_at: 'الموعد: {time}',
    sessions_list: 'الجلسات',
    sessions_empty: 'لا توجد جلسات بعد.',
    session_created: 'أُنشئت الجلسة «{title}».',
    session_renamed: 'حُفظ عنوان الجلسة «{title}».',
    session_went_live: 'الجلسة «{title}» مباشرة الآن.',
    session_was_ended: 'انتهت الجلسة «{title}».',
    session_needs_title: 'اكتب عنوانًا بالعربية أو بالإنجليزية.',
    session_failed: 'تعذّر ذلك: {m}',
    settings_changed_by: 'غيّر {by} الإعدادات.',
    op_conflict: 'قرّر مشرف آخر بشأن هذا التعليق بالفعل.',
    op_not_found: 'هذا التعليق لم يعد موجودًا.',
    op_invalid: 'طلب غير صالح: {message}',
    op_forbidden: 'ليست لديك صلاحية لهذا الإجراء.',
    op_busy: 'الخادم مشغول، حاول مجددًا بعد لحظات.',
    op_unknown: 'تعذّر تنفيذ الإجراء ({code}).',
    op_timeout: 'لم يصل رد من الخادم. حاول مجددًا.',
    op_offline: 'لا يوجد اتصال بالخادم.',
    decided_by: 'تعليق {id}: {action} بواسطة {by}.',
    past_approve: 'نُشر',
    past_reject: 'رُفض',
    past_hide: 'أُخفي',
    past_edit: 'عُدّل',
    // on air
    onair_title: 'على الهواء',
    onair_count: {
      one: 'تعليق واحد على الشاشة', two: 'تعليقان على الشاشة', few: '{n} تعليقات على الشاشة',
      many: '{n} تعليقًا على الشاشة', other: '{n} تعليق على الشاشة',
    },
    onair_count_none: 'الشاشة خالية',
    onair_clear: 'إخلاء الشاشة',
    onair_preview: 'معاينة الشاشة كما تظهر في البث',
    onair_now: 'على الشاشة الآن',
    onair_now_empty: 'لا تعليقات على الشاشة.',
    onair_lower_third: 'الشريط التعريفي: {text}',
    onair_ticker: 'الشريط الإخباري: {text}',
    onair_producers_only: 'التحكم بما يظهر على الهواء للمنتجين فقط؛ يمكنك المتابعة هنا.',
    onair_badge: 'على الهواء',
    onair_via: 'عبر {source}',
    onair_conflict: 'لا يُعرض على الهواء إلا تعليق منشور، وهذا التعليق لم يعد منشورًا.',
    onair_forbidden: 'التحكم بما يظهر على الهواء للمنتجين فقط.',
    onair_not_found: 'هذا التعليق لم يعد موجودًا.',
    onair_invalid: 'رفض الخادم الطلب: {message}',
    onair_busy: 'الخادم مشغول، حاول مجددًا بعد لحظات.',
    onair_unknown: 'تعذّر تنفيذ الإجراء ({code}): {message}',
    action_unair: 'أنزِله',
    action_unair_title: 'أنزل هذا التعليق وحده عن الشاشة (يبقى في صفحة المشاهدين)',
    action_air: 'اعرض الآن',
    action_air_title: 'اعرض هذا التعليق وحده على الشاشة الآن',
    action_add: 'أضف للشاشة',
    action_add_title: 'أضفه إلى التعليقات المعروضة (3 كحد أقصى)',
    action_queue: 'إلى التناوب',
    action_queue_title: 'أضفه إلى قائمة التناوب لمدة الثواني المحددة',
    queue_seconds: 'ثوانٍ',
    queue_seconds_label: 'مدة العرض في التناوب بالثواني',
    queue_bad_seconds: 'مدة التناوب عدد صحيح من 1 إلى 3600 ثانية.',
    rotation_title: 'التناوب',
    rotation_full: 'قائمة التناوب ممتلئة؛ انتظر حتى يُعرض بعضها أو أخلِ الشاشة.',
    rotation_empty: 'قائمة التناوب فارغة.',
    rotation_next_in: 'التالي خلال {s} ث',
    rotation_ends_in: 'تُخلى الشاشة خلال {s} ث',
    rotation_item_seconds: '{s} ث',
    lt_title: 'الشريط التعريفي',
    lt_name_ar: 'الاسم بالعربية',
    lt_name_en: 'الاسم بالإنجليزية',
    lt_title_ar: 'الصفة بالعربية',
    lt_title_en: 'الصفة بالإنجليزية',
    lt_session_ar: 'الجلسة بالعربية',
    lt_session_en: 'الجلسة بالإنجليزية',
    lt_set: 'اعرض الشريط',
    lt_clear: 'أزل الشريط',
    lt_empty: 'املأ حقلًا واحدًا على الأقل، أو استخدم «أزل الشريط».',
    ticker_title: 'الشريط الإخباري',
    ticker_set: 'اعرض',
    ticker_clear: 'أزل',
    ticker_empty: 'اكتب نص الشريط أولًا، أو استخدم «أزل».',
    theme_title: 'المظهر',
    theme_preset: 'النمط',
    theme_preset_default: 'افتراضي',
    theme_preset_light: 'فاتح',
    theme_preset_dark: 'داكن',
    theme_preset_custom: 'مخصّص',
    theme_position: 'موضع التعليقات',
    pos_bottom: 'أسفل الشاشة',
    pos_top: 'أعلى الشاشة',
    pos_side: 'جانب الشاشة',
    theme_font_size: 'حجم الخط (بكسل عند 1080p)',
    theme_max_lines: 'أقصى عدد للأسطر',
    theme_apply: 'طبّق',
    theme_bad: 'حجم الخط من 12 إلى 160، والأسطر من 1 إلى 10.',
    // broadcast (video pipeline)
    bc_title: 'البث',
    bc_state_playing: 'يعمل',
    bc_state_starting: 'يبدأ…',
    bc_state_error: 'خطأ',
    bc_state_stopped: 'متوقف',
    bc_state_off: 'الفيديو مُعطّل',
    bc_off: 'يعمل الخادم دون فيديو: لا بث ولا تسجيل ولا إعادة بث.',
    bc_error: 'توقف البث بسبب خطأ: {error}',
    bc_error_plain: 'توقف البث بسبب خطأ.',
    bc_last_error: 'آخر خطأ: {error}',
    bc_stale: 'لم تصل حالة البث منذ {s} ث.',
    bc_input: 'المصدر',
    bc_input_live: 'مباشر',
    bc_input_slate: 'شاشة الانتظار',
    bc_fps: 'الإطارات في الثانية',
    bc_dropped: 'إطارات مُسقطة',
    bc_of_frames: 'من {n}',
    bc_bitrate: 'معدل البت',
    bc_kbps: '{n} ك.بت/ث',
    bc_latency: 'تأخير HLS (تقديري)',
    bc_seconds: '≈ {n} ث',
    bc_segments: 'مقاطع HLS: {n}',
    bc_recording: 'التسجيل',
    bc_not_recording: 'لا يوجد تسجيل',
    bc_restreams: 'إعادة البث',
    bc_restreams_none: 'لا توجد وجهات لإعادة البث.',
    bc_rs_live: 'مباشر',
    bc_rs_connecting: 'يتصل…',
    bc_rs_reconnecting: 'يعيد الاتصال…',
    bc_rs_failed: 'فشل',
    bc_reconnects: 'إعادات الاتصال: {n}',
    bc_restarts: {
      one: 'أُعيد بناء البث مرة واحدة بعد خطأ', two: 'أُعيد بناء البث مرتين بعد أخطاء',
      few: 'أُعيد بناء البث {n} مرات بعد أخطاء', many: 'أُعيد بناء البث {n} مرة بعد أخطاء', other: 'أُعيد بناء البث {n} مرة بعد أخطاء',
    },
    // where a comment came from (sourceLabel); other bridges show their own name
    source_web: 'الموقع',
    source_youtube: 'يوتيوب',
    source_facebook: 'فيسبوك',
    source_x: 'إكس',
    source_twitter: 'إكس',
    source_instagram: 'إنستغرام',
    source_tiktok: 'تيك توك',
    source_whatsapp: 'واتساب',
    // Polls and outcomes: shared by the studio, /decisions, the archive and the report.
    poll_status_draft: 'مسودة',
    poll_status_open: 'مفتوح',
    poll_status_closed: 'مغلق',
    outcome_received: 'تم الاستلام',
    outcome_studying: 'قيد الدراسة',
    outcome_accepted: 'مقبول',
    outcome_implemented: 'تم التنفيذ',
    outcome_declined: 'مرفوض',
    polls_title: 'الاستطلاعات',
    polls_none: 'لم يُجرَ استطلاع في هذه الجلسة.',
    poll_ballots: { zero: 'لا مصوّتين', one: 'مصوّت واحد', two: 'مصوّتان', few: '{n} مصوّتين', many: '{n} مصوّتًا', other: '{n} مصوّت' },
    poll_opened_at: 'فُتح {time}',
    poll_closed_at: 'أُغلق {time}',
    report_polls: 'نتائج الاستطلاعات',
    report_decisions: 'الأسئلة وما تقرر بشأنها',
    report_decisions_none: 'لم تُسجَّل نتيجة لأي سؤال في هذه الجلسة.',
    col_option: 'الخيار',
    col_percent: 'النسبة',
    col_askers: 'السائلون',
    col_outcome: 'النتيجة',
    col_note: 'الملاحظة',
    col_owner: 'الجهة المسؤولة',
    col_due: 'الموعد',
    export_polls: 'نتائج الاستطلاعات',
    'export_polls-json': 'نتائج الاستطلاعات',
    export_decisions: 'سجل القرارات',
    'export_decisions-json': 'سجل القرارات',
  },
  en: {
    app_name: 'Sabla',
    studio_name: 'Studio',
    lang_toggle: 'العربية',
    lang_toggle_label: 'التبديل إلى العربية',
    conn_connecting: 'Connecting…',
    conn_open: 'Connected',
    conn_waiting: 'Disconnected — retrying in {s} s',
    conn_stopped: 'Not connected',
    status_live: 'Live',
    status_offline: 'Offline',
    video_placeholder: 'The broadcast will appear here when the session starts.',
    no_session: 'No session right now',
    name_label: 'Your name (optional)',
    name_placeholder: 'e.g. Maryam',
    comment_label: 'Your comment or question',
    comment_placeholder: 'Write your comment here…',
    send: 'Send',
    send_hint: 'Enter sends · Shift+Enter adds a line',
    mine_title: 'Your comments',
    mine_pending: 'Waiting for review',
    mine_approved: 'Published',
    mine_on_air: 'On air now',
    mine_rejected: 'Not published',
    mine_sending: 'Sending',
    counter: '{n} / {max}',
    sending: 'Sending…',
    queued_offline: 'Not connected — your comment will be sent when the connection is back.',
    ack_pending: 'Sent — awaiting moderation',
    ack_approved: 'Published',
    ack_rejected: 'Your comment was not published.',
    ack_other: 'Sent',
    err_rate_limited: 'You are sending too fast. Try again in {s} s.',
    err_rate_limited_plain: 'You are sending too fast. Wait a moment and try again.',
    err_slow_mode: 'Slow mode is on. You can comment again in {s} s.',
    err_slow_mode_plain: 'Slow mode is on. Wait a moment and try again.',
    err_too_long: 'Your comment is too long (at most {max} characters).',
    err_empty: 'Write a comment first.',
    err_banned: 'You cannot comment right now.',
    err_no_session: 'There is no live session taking comments right now.',
    err_invalid: 'The comment could not be sent.',
    err_not_found: 'That comment no longer exists.',
    err_vote_conflict: 'You have already upvoted this comment.',
    err_unknown: 'Something went wrong ({code}).',
    err_impersonation: 'That name looks like a moderator’s, the speaker’s or Sabla’s own. Choose another.',
    feed_title: 'Comments',
    feed_empty: 'No published comments yet.',
    vote_aria: 'Upvote ({n})',
    anonymous: 'Guest',
    // video (viewer)
    video_label: 'Live broadcast',
    video_loading: 'Loading the broadcast…',
    video_retry: 'The broadcast is unavailable — retrying in {s} s',
    video_unsupported: 'This browser cannot play the broadcast.',
    viewers_watching: { one: '{n} person watching', other: '{n} people watching' },
    unmute: 'Unmute',
    monitor_whep: 'Program · WebRTC',
    monitor_hls: 'Program · HLS',
    sync_video: 'In sync with video',
    sync_live: 'Live',
    sync_video_hint: 'Comments appear when the video reaches them. Click to see them as they arrive.',
    sync_idle_hint: 'The video is not playing: comments appear as they arrive.',
    sync_live_hint: 'Comments appear as they arrive, ahead of the video. Click to keep them in step with the video.',
    // studio
    login_title: 'Sign in to the studio',
    login_name: 'User name',
    login_password: 'Password',
    login_submit: 'Sign in',
    login_bad: 'Wrong user name or password.',
    login_throttled: 'Too many attempts. Wait a minute and try again.',
    login_failed: 'Could not sign in ({code}).',
    login_expired: 'Your session ended. Please sign in again.',
    logout: 'Sign out',
    role_producer: 'producer',
    role_moderator: 'moderator',
    role_archivist: 'archivist',
    me: '{name} ({role})',
    counter_pending: 'Pending',
    counter_approved: 'Approved',
    counter_rejected: 'Rejected',
    counter_hidden: 'Hidden',
    counter_viewers: 'Viewers',
    queue_title: 'Review queue',
    queue_empty: 'Nothing is awaiting review.',
    sort_label: 'Order',
    sort_oldest: 'Oldest first',
    sort_newest: 'Newest first',
    sort_votes: 'Most upvoted first',
    keys_title: 'Keyboard shortcuts',
    keys_group_queue: 'Review queue',
    keys_group_onair: 'On air (producers)',
    keys_group_general: 'General',
    key_select: 'Select a comment in the review queue',
    key_select_approved: 'Select a comment in “Recently approved”',
    key_help: 'Show this sheet',
    key_close: 'Close the dialog',
    keys_note: 'The keys work with any keyboard layout, Arabic too (the key in its place).',
    action_clear: 'Clear the screen (panic)',
    action_close: 'Close',
    graphics_title: 'Screen graphics',
    action_approve: 'Approve',
    action_reject: 'Reject',
    action_edit: 'Edit',
    action_ban: 'Ban',
    action_hide: 'Hide',
    action_save: 'Save',
    action_cancel: 'Cancel',
    action_ok: 'OK',
    edit_hint: 'Enter saves · Esc cancels',
    prompt_reject: 'Reason for rejecting (optional)',
    reject_title: 'Reject the comment',
    reject_reason: 'Reason',
    reject_note: 'Note (optional, kept in the record)',
    reject_ok: 'Reject',
    reason_off_topic: 'Off-topic',
    reason_abusive: 'Abusive',
    reason_duplicate: 'Duplicate',
    reason_personal_data: 'Personal data',
    reason_other: 'Other',
    reason_other_needs_note: 'Write the reason in the note.',
    prompt_ban: 'Ban this viewer for how many seconds?',
    ban_no_viewer: 'This comment did not come from a web viewer, so there is nobody to ban.',
    ban_bad_seconds: 'Enter a positive whole number of seconds.',
    viewer_banned: 'Viewer {id} ({name}) is banned until {time}.',
    viewer_unbanned: 'Viewer {id} ({name}) is no longer banned.',
    votes_n: '▲ {n}',
    source_label: 'Source: {source}',
    viewer_label: 'Viewer {id}',
    reason_label: 'Note: {reason}',
    approved_title: 'Recently approved',
    approved_empty: 'Nothing approved yet.',
    settings_title: 'Settings',
    set_hold: 'Hold comments for review',
    set_slow: 'Slow mode (seconds between comments, 0 = off)',
    set_maxlen: 'Maximum comment length (characters)',
    set_blocked: 'Blocked words (one per line)',
    set_action: 'When a blocked word matches',
    set_action_hold: 'Hold the comment for review',
    set_action_reject: 'Reject the comment at once',
    settings_save: 'Save settings',
    settings_saved: 'Settings saved.',
    // The producer's desk: sessions (assets/studio-sessions.js).
    sessions_open: 'Sessions',
    sessions_title: 'Sessions',
    session_new: 'New session',
    session_title_ar: 'Arabic title',
    session_title_en: 'English title',
    session_scheduled: 'Planned start (optional)',
    session_create: 'Create session',
    session_save: 'Save',
    session_go_live: 'Go live',
    session_end: 'End session',
    session_end_title: 'End the session?',
    session_end_text: 'The session “{title}” ends and stops taking comments. This cannot be undone.',
    session_end_confirm: 'Yes, end the session',
    session_status_scheduled: 'Scheduled',
    session_status_live: 'Live',
    session_status_ended: 'Ended',
    session_at: 'Planned: {time}',
    sessions_list: 'Sessions',
    sessions_empty: 'No sessions yet.',
    session_created: 'Session “{title}” created.',
    session_renamed: 'Session “{title}” saved.',
    session_went_live: 'Session “{title}” is live now.',
    session_was_ended: 'Session “{title}” has ended.',
    session_needs_title: 'Write an Arabic or an English title.',
    session_failed: 'That did not work: {m}',
    settings_changed_by: '{by} changed the settings.',
    op_conflict: 'Another moderator already decided on this comment.',
    op_not_found: 'That comment no longer exists.',
    op_invalid: 'Invalid request: {message}',
    op_forbidden: 'You are not allowed to do that.',
    op_busy: 'The server is busy; try again in a moment.',
    op_unknown: 'The action failed ({code}).',
    op_timeout: 'No reply from the server. Try again.',
    op_offline: 'Not connected to the server.',
    decided_by: 'Comment {id}: {action} by {by}.',
    past_approve: 'approved',
    past_reject: 'rejected',
    past_hide: 'hidden',
    past_edit: 'edited',
    // on air
    onair_title: 'On air',
    onair_count: { one: '1 comment on screen', other: '{n} comments on screen' },
    onair_count_none: 'Screen clear',
    onair_clear: 'Clear screen',
    onair_preview: 'Preview of the screen as broadcast',
    onair_now: 'On screen now',
    onair_now_empty: 'No comments on screen.',
    onair_lower_third: 'Lower third: {text}',
    onair_ticker: 'Ticker: {text}',
    onair_producers_only: 'Only producers can change what is on air; you can follow it here.',
    onair_badge: 'ON AIR',
    onair_via: 'via {source}',
    onair_conflict: 'Only approved comments can go on air, and this one is no longer approved.',
    onair_forbidden: 'Only producers can change what is on air.',
    onair_not_found: 'That comment no longer exists.',
    onair_invalid: 'The server refused the request: {message}',
    onair_busy: 'The server is busy; try again in a moment.',
    onair_unknown: 'The action failed ({code}): {message}',
    action_unair: 'Take off',
    action_unair_title: 'Take only this comment off screen (viewers still see it)',
    action_air: 'Air now',
    action_air_title: 'Show only this comment on screen now',
    action_add: 'Add to screen',
    action_add_title: 'Add it to the comments on screen (at most 3)',
    action_queue: 'Queue',
    action_queue_title: 'Add it to the rotation for the given seconds',
    queue_seconds: 's',
    queue_seconds_label: 'Seconds on screen in the rotation',
    queue_bad_seconds: 'Rotation time is a whole number of seconds from 1 to 3600.',
    rotation_title: 'Rotation',
    rotation_full: 'The rotation is full; wait for some to be shown or clear the screen.',
    rotation_empty: 'The rotation is empty.',
    rotation_next_in: 'Next in {s} s',
    rotation_ends_in: 'Screen clears in {s} s',
    rotation_item_seconds: '{s} s',
    lt_title: 'Lower third',
    lt_name_ar: 'Name (Arabic)',
    lt_name_en: 'Name (English)',
    lt_title_ar: 'Title (Arabic)',
    lt_title_en: 'Title (English)',
    lt_session_ar: 'Session (Arabic)',
    lt_session_en: 'Session (English)',
    lt_set: 'Show lower third',
    lt_clear: 'Remove lower third',
    lt_empty: 'Fill in at least one field, or use “Remove lower third”.',
    ticker_title: 'Ticker',
    ticker_set: 'Show',
    ticker_clear: 'Remove',
    ticker_empty: 'Write the ticker text first, or use “Remove”.',
    theme_title: 'Look',
    theme_preset: 'Preset',
    theme_preset_default: 'Default',
    theme_preset_light: 'Light',
    theme_preset_dark: 'Dark',
    theme_preset_custom: 'Custom',
    theme_position: 'Comment position',
    pos_bottom: 'Bottom',
    pos_top: 'Top',
    pos_side: 'Side',
    theme_font_size: 'Font size (px at 1080p)',
    theme_max_lines: 'Maximum lines',
    theme_apply: 'Apply',
    theme_bad: 'Font size is 12 to 160 and lines 1 to 10.',
    // broadcast (video pipeline)
    bc_title: 'Broadcast',
    bc_state_playing: 'Running',
    bc_state_starting: 'Starting…',
    bc_state_error: 'Error',
    bc_state_stopped: 'Stopped',
    bc_state_off: 'Video off',
    bc_off: 'The server runs without video: no broadcast, recording or restreams.',
    bc_error: 'The broadcast stopped with an error: {error}',
    bc_error_plain: 'The broadcast stopped with an error.',
    bc_last_error: 'Last error: {error}',
    bc_stale: 'No broadcast status for {s} s.',
    bc_input: 'Input',
    bc_input_live: 'Live',
    bc_input_slate: 'Slate',
    bc_fps: 'Output fps',
    bc_dropped: 'Dropped frames',
    bc_of_frames: 'of {n}',
    bc_bitrate: 'Bitrate',
    bc_kbps: '{n} kbps',
    bc_latency: 'HLS latency (est.)',
    bc_seconds: '≈ {n} s',
    bc_segments: 'HLS segments: {n}',
    bc_recording: 'Recording',
    bc_not_recording: 'Not recording',
    bc_restreams: 'Restreams',
    bc_restreams_none: 'No restream destinations.',
    bc_rs_live: 'Live',
    bc_rs_connecting: 'Connecting…',
    bc_rs_reconnecting: 'Reconnecting…',
    bc_rs_failed: 'Failed',
    bc_reconnects: 'Reconnects: {n}',
    bc_restarts: { one: 'rebuilt once after an error', other: 'rebuilt {n} times after errors' },
    source_web: 'website',
    source_youtube: 'YouTube',
    source_facebook: 'Facebook',
    source_x: 'X',
    source_twitter: 'X',
    source_instagram: 'Instagram',
    source_tiktok: 'TikTok',
    source_whatsapp: 'WhatsApp',
    poll_status_draft: 'Draft',
    poll_status_open: 'Open',
    poll_status_closed: 'Closed',
    outcome_received: 'Received',
    outcome_studying: 'Under study',
    outcome_accepted: 'Accepted',
    outcome_implemented: 'Implemented',
    outcome_declined: 'Declined',
    polls_title: 'Polls',
    polls_none: 'No poll was held in this session.',
    poll_ballots: { zero: 'No voters', one: '1 voter', other: '{n} voters' },
    poll_opened_at: 'Opened {time}',
    poll_closed_at: 'Closed {time}',
    report_polls: 'Poll results',
    report_decisions: 'Questions and their outcomes',
    report_decisions_none: 'No outcome has been recorded for any question of this session.',
    col_option: 'Option',
    col_percent: 'Share',
    col_askers: 'Askers',
    col_outcome: 'Outcome',
    col_note: 'Note',
    col_owner: 'Responsible',
    col_due: 'Due',
    export_polls: 'Poll results',
    'export_polls-json': 'Poll results',
    export_decisions: 'Decisions register',
    'export_decisions-json': 'Decisions register',
  },
};

export const LANGS = ['ar', 'en'];
const STORAGE_KEY = 'sabla.lang';
const listeners = new Set();
let current = 'ar';

export function storageGet(key) {
  try { return window.localStorage.getItem(key); } catch { return null; }
}
export function storageSet(key, value) {
  try {
    if (value === null || value === undefined) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch { /* storage unavailable (private mode, quota): keep going */ }
}

// Merges a page's strings into the shared tables (later keys win).
export function addStrings(tables) {
  for (const lang of LANGS) Object.assign(STRINGS[lang], (tables && tables[lang]) || {});
}

function detectLanguage() {
  const saved = storageGet(STORAGE_KEY);
  if (LANGS.includes(saved)) return saved;
  return LANGS.includes(defaultLanguage) ? defaultLanguage : 'ar';
}

export function getLang() { return current; }
export function getDir() { return current === 'ar' ? 'rtl' : 'ltr'; }

function lookup(key) {
  const table = STRINGS[current] || STRINGS.ar;
  return table[key] !== undefined ? table[key] : STRINGS.en[key];
}

function fill(s, vars) {
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, name) => (vars[name] !== undefined && vars[name] !== null ? String(vars[name]) : m));
}

const pluralRules = new Map();
// The plural category of `n` in the current language ("one", "few", …).
export function pluralOf(n) {
  let rules = pluralRules.get(current);
  if (!rules) {
    try { rules = new Intl.PluralRules(current); } catch { rules = { select: (x) => (x === 1 ? 'one' : 'other') }; }
    pluralRules.set(current, rules);
  }
  return rules.select(n);
}

// Translates `key` in the current language, filling {name} placeholders.
export function t(key, vars) {
  const s = lookup(key);
  if (s === undefined) return key;
  if (typeof s === 'object') return tn(key, Number(vars && vars.n) || 0, vars);
  return fill(s, vars);
}

// A count: the plural form of `key` for `n`, with {n} filled (Latin digits).
export function tn(key, n, vars = {}) {
  const forms = lookup(key);
  if (forms === undefined) return key;
  const all = { ...vars, n: fmtNumber(n) };
  if (typeof forms === 'string') return fill(forms, all);
  const form = forms[pluralOf(n)] ?? forms.other ?? '';
  return fill(form, all);
}

export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

export function setLang(lang, { remember = true } = {}) {
  if (!LANGS.includes(lang)) return;
  current = lang;
  if (remember) storageSet(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
  document.documentElement.dir = getDir();
  applyI18n();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.add(fn); }

let started = false;
// Sets the language (the user's choice, else the server's default) and wires
// every [data-lang-toggle] button. Safe to call more than once.
export function initI18n() {
  if (started) { applyI18n(); return; }
  started = true;
  setLang(detectLanguage(), { remember: false });
  document.addEventListener('click', (ev) => {
    if (ev.target.closest && ev.target.closest('[data-lang-toggle]')) setLang(current === 'ar' ? 'en' : 'ar');
  });
}

// A comment's source in the UI: "web" is the page itself; known platforms by
// their names in the current language; anything else as the bridge sent it.
export function sourceLabel(source) {
  const s = typeof source === 'string' && source ? source : 'web';
  const key = `source_${s.toLowerCase()}`;
  const label = lookup(key);
  return typeof label === 'string' ? label : s;
}

// Numbers and times use Latin digits in both languages so counts read the same.
function locale() { return current === 'ar' ? 'ar-u-nu-latn' : 'en-GB'; }

export function fmtTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  try {
    return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
  } catch { return new Date(ms).toISOString().slice(11, 16); }
}

// A day and a time, e.g. a session's planned start.
export function fmtDateTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  try {
    return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
  } catch { return new Date(ms).toISOString().slice(0, 16).replace('T', ' '); }
}

export function fmtNumber(n) {
  try { return new Intl.NumberFormat(locale()).format(n); } catch { return String(n); }
}

// A number with exactly `digits` decimals (Latin digits, as fmtNumber).
export function fmtDecimal(n, digits = 1) {
  try {
    return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
  } catch { return Number(n).toFixed(digits); }
}

// Title of a session in the current language, falling back to the other one.
export function sessionTitle(session) {
  if (!session) return '';
  const ar = session.title_ar || '';
  const en = session.title_en || '';
  return current === 'ar' ? (ar || en) : (en || ar);
}
