// Parley browser client: plain JS, no build step. See docs/protocol.md (authoritative).
//
// One WebSocket to /ws carries JSON events (text frames) and audio (binary frames): the
// microphone goes out as 16 kHz PCM16LE from mic-worklet.js, interviewer speech comes in
// with a 12-byte header and is scheduled gaplessly on an AudioContext. The session id,
// token and last event seq live in sessionStorage, so a dropped connection or a page
// reload resumes the same interview without gaps or repeats.
//
// Security: text from the server or the candidate is only ever set with textContent.
(function () {
  "use strict";

  // --- constants ---------------------------------------------------------------------

  const SCRIPT_URL = (document.currentScript && document.currentScript.src) || location.href;
  const WORKLET_URL = new URL("mic-worklet.js", SCRIPT_URL).href;
  const STORE_KEY = "parley.session.v1";
  const UI_LANG_KEY = "parley.uiLang";
  const TARGET_RATE = 16000;
  const CHUNK_MS = 40;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 8000;
  const WATCHDOG_MS = 30000; // the server pings every few seconds; silence this long = dead link
  const MAX_SEND_BUFFER = 256 * 1024; // live audio is useless late: drop instead of queueing
  const PLAYBACK_LEAD_S = 0.04;
  const MAX_LOG = 400;
  const MAX_TEXT = 4000;
  const MAX_DOC = 20000;
  const SCORE_KEYS = ["relevance", "depth", "clarity", "role_fit"];
  const ROLES = ["backend", "frontend", "data", "product", "general"];
  const DIFFICULTIES = ["junior", "mid", "senior"];
  const HEADER_BYTES = 12;

  // --- UI strings ----------------------------------------------------------------------

  const I18N = {
    en: {
      skip: "Skip to content",
      tagline: "Voice mock interviews",
      ui_language: "Interface language",
      conn_idle: "Not connected",
      conn_connecting: "Connecting…",
      conn_open: "Connected",
      conn_reconnecting: "Reconnecting…",
      conn_closed: "Disconnected",
      conn_offline: "Offline — waiting for network",
      setup_title: "Practise a job interview, out loud",
      setup_lead:
        "Pick a role and a language. The interviewer asks questions by voice; answer by speaking, or type if you have no microphone. You get a scored feedback report at the end.",
      f_language: "Interview language",
      lang_en: "English",
      lang_ko: "Korean",
      f_role: "Role",
      role_backend: "Backend engineer",
      role_frontend: "Frontend engineer",
      role_data: "Data analyst / scientist",
      role_product: "Product manager",
      role_general: "General (behavioural)",
      f_difficulty: "Difficulty",
      diff_junior: "Junior",
      diff_mid: "Mid-level",
      diff_senior: "Senior",
      f_questions: "Number of questions",
      f_docs: "Résumé and job posting (optional)",
      f_resume: "Your résumé",
      f_resume_ph: "Paste your résumé here",
      f_posting: "Job posting",
      f_posting_ph: "Paste the job posting here",
      f_docs_hint: "The interviewer uses these to tailor questions. They stay with this interview session.",
      start: "Start interview",
      start_aria: "Start the interview",
      mic_hint: "Your browser will ask for microphone access.",
      speaking: "Interviewer speaking",
      current_question: "Current question",
      waiting: "Waiting for the interviewer…",
      your_answer: "Your answer",
      mic_off: "Microphone off",
      mic_on: "Microphone on",
      mic_muted: "Microphone muted",
      mic_unavailable: "No microphone — type your answers below",
      mic_level: "Microphone level",
      audio_unlock: "Enable microphone and sound",
      audio_unlock_aria: "Enable microphone and sound",
      mute: "Mute",
      mute_aria: "Mute microphone",
      unmute: "Unmute",
      unmute_aria: "Unmute microphone",
      end: "End interview",
      end_aria: "End the interview and get the report",
      ending: "Ending…",
      type_answer: "Type your answer instead",
      type_answer_ph: "Type here and press Ctrl+Enter to send",
      send: "Send",
      send_aria: "Send typed answer",
      conversation: "Conversation",
      report_title: "Your feedback",
      permalink: "Read this report later:",
      copy: "Copy link",
      copy_aria: "Copy report link",
      copied: "Link copied.",
      new_interview: "New interview",
      new_interview_aria: "Start a new interview",
      report_pending: "Preparing your feedback report…",
      state_idle: "Waiting",
      state_greeting: "Greeting",
      state_asking: "Asking",
      state_listening: "Listening — your turn",
      state_thinking: "Thinking…",
      state_closing: "Wrapping up",
      state_reporting: "Writing your report…",
      state_finished: "Finished",
      kind_greeting: "Welcome",
      kind_main: "Question {index} of {total}",
      kind_main_short: "Question",
      kind_followup: "Follow-up",
      kind_closing: "Closing",
      kind_repeat: "Please repeat",
      who_interviewer: "Interviewer",
      who_you: "You",
      who_you_typed: "You (typed)",
      score_relevance: "Relevance",
      score_depth: "Depth",
      score_clarity: "Clarity",
      score_role_fit: "Role fit",
      score_overall: "Overall",
      r_overall: "Overall scores",
      r_answers: "Answer by answer",
      r_answer_n: "Answer {n}",
      r_question: "Question",
      r_answer: "Your answer",
      r_strength: "What worked",
      r_improvement: "To improve",
      r_evidence: "From your answer",
      r_strengths: "Strengths",
      r_improvements: "Improvements",
      r_summary: "Summary",
      r_transcript: "Transcript",
      r_empty: "The report is empty.",
      r_estimated:
        "These scores are estimated from the length and shape of your answers: the detailed assessment was not ready in time.",
      r_no_answer: "(no answer)",
      r_out_of: "{value} out of 5",
      r_meta: "{role} · {language}",
      err_bad_json: "The server could not read a message from this page.",
      err_bad_message: "The server rejected a message from this page.",
      err_not_started: "The interview has not started yet.",
      err_rate_limited: "Too much data at once; some was dropped.",
      err_unavailable: "The interview service is busy. Trying again…",
      err_too_big: "A message was too large to send.",
      err_bad_token: "This interview session is no longer valid. Please start a new interview.",
      err_unknown_session: "This interview session no longer exists. Please start a new interview.",
      err_generic: "Something went wrong.",
      err_not_connected: "Not connected right now. Your answer was not sent; try again in a moment.",
      err_mic_denied: "Microphone access was blocked. You can still type your answers.",
      err_mic_unsupported: "This browser cannot record audio here. You can still type your answers.",
      err_mic_ended: "The microphone stopped. You can still type your answers.",
      err_worklet: "Audio processing could not start. You can still type your answers.",
      err_empty_answer: "Type an answer first.",
      err_session_replaced: "The previous session could not be resumed; a new one was started.",
      err_busy: "Parley is at capacity right now. Trying again…",
      err_full: "Parley is at capacity right now. Trying again in {s} s…",
      err_start_timeout: "The interview was not started in time. Please start a new interview.",
    },
    ko: {
      skip: "본문으로 건너뛰기",
      tagline: "음성 모의 면접",
      ui_language: "화면 언어",
      conn_idle: "연결 안 됨",
      conn_connecting: "연결 중…",
      conn_open: "연결됨",
      conn_reconnecting: "다시 연결하는 중…",
      conn_closed: "연결 끊김",
      conn_offline: "오프라인 — 네트워크를 기다리는 중",
      setup_title: "소리 내어 연습하는 모의 면접",
      setup_lead:
        "직무와 언어를 선택해 주세요. 면접관이 음성으로 질문하면 말로 답변하시면 됩니다. 마이크가 없으면 글로 입력하셔도 됩니다. 면접이 끝나면 점수와 함께 피드백 리포트를 드립니다.",
      f_language: "면접 언어",
      lang_en: "영어",
      lang_ko: "한국어",
      f_role: "직무",
      role_backend: "백엔드 개발자",
      role_frontend: "프론트엔드 개발자",
      role_data: "데이터 분석가 / 사이언티스트",
      role_product: "프로덕트 매니저",
      role_general: "공통 (인성 면접)",
      f_difficulty: "난이도",
      diff_junior: "주니어",
      diff_mid: "미들",
      diff_senior: "시니어",
      f_questions: "질문 수",
      f_docs: "이력서와 채용 공고 (선택)",
      f_resume: "이력서",
      f_resume_ph: "이력서 내용을 붙여 넣어 주세요",
      f_posting: "채용 공고",
      f_posting_ph: "채용 공고 내용을 붙여 넣어 주세요",
      f_docs_hint: "면접관이 질문을 맞춤화하는 데 사용합니다. 이 면접 세션에만 사용됩니다.",
      start: "면접 시작",
      start_aria: "면접 시작하기",
      mic_hint: "브라우저에서 마이크 사용 권한을 요청합니다.",
      speaking: "면접관이 말하는 중",
      current_question: "현재 질문",
      waiting: "면접관을 기다리는 중…",
      your_answer: "내 답변",
      mic_off: "마이크 꺼짐",
      mic_on: "마이크 켜짐",
      mic_muted: "마이크 음소거됨",
      mic_unavailable: "마이크 없음 — 아래에 답변을 입력해 주세요",
      mic_level: "마이크 입력 크기",
      audio_unlock: "마이크와 소리 켜기",
      audio_unlock_aria: "마이크와 소리 켜기",
      mute: "음소거",
      mute_aria: "마이크 음소거",
      unmute: "음소거 해제",
      unmute_aria: "마이크 음소거 해제",
      end: "면접 종료",
      end_aria: "면접을 끝내고 리포트 받기",
      ending: "종료하는 중…",
      type_answer: "글로 답변하기",
      type_answer_ph: "여기에 입력하고 Ctrl+Enter로 보내세요",
      send: "보내기",
      send_aria: "입력한 답변 보내기",
      conversation: "대화 기록",
      report_title: "면접 피드백",
      permalink: "나중에 이 리포트 다시 보기:",
      copy: "링크 복사",
      copy_aria: "리포트 링크 복사",
      copied: "링크를 복사했습니다.",
      new_interview: "새 면접",
      new_interview_aria: "새 면접 시작하기",
      report_pending: "피드백 리포트를 준비하고 있습니다…",
      state_idle: "대기 중",
      state_greeting: "인사 중",
      state_asking: "질문 중",
      state_listening: "듣는 중 — 답변해 주세요",
      state_thinking: "생각 중…",
      state_closing: "마무리 중",
      state_reporting: "리포트 작성 중…",
      state_finished: "종료",
      kind_greeting: "인사",
      kind_main: "질문 {index} / {total}",
      kind_main_short: "질문",
      kind_followup: "꼬리 질문",
      kind_closing: "마무리",
      kind_repeat: "다시 말씀해 주세요",
      who_interviewer: "면접관",
      who_you: "나",
      who_you_typed: "나 (입력)",
      score_relevance: "질문 적합성",
      score_depth: "깊이",
      score_clarity: "명확성",
      score_role_fit: "직무 적합도",
      score_overall: "종합",
      r_overall: "종합 점수",
      r_answers: "답변별 피드백",
      r_answer_n: "답변 {n}",
      r_question: "질문",
      r_answer: "내 답변",
      r_strength: "잘한 점",
      r_improvement: "보완할 점",
      r_evidence: "답변에서 인용",
      r_strengths: "강점",
      r_improvements: "개선할 점",
      r_summary: "총평",
      r_transcript: "전체 대화",
      r_empty: "리포트 내용이 없습니다.",
      r_estimated: "이 점수는 답변의 길이와 구성으로 추정한 값입니다. 상세 평가가 제때 준비되지 않았습니다.",
      r_no_answer: "(답변 없음)",
      r_out_of: "5점 만점에 {value}점",
      r_meta: "{role} · {language}",
      err_bad_json: "서버가 이 페이지의 메시지를 읽지 못했습니다.",
      err_bad_message: "서버가 이 페이지의 메시지를 거부했습니다.",
      err_not_started: "면접이 아직 시작되지 않았습니다.",
      err_rate_limited: "한꺼번에 너무 많은 데이터가 전송되어 일부가 누락되었습니다.",
      err_unavailable: "면접 서비스가 혼잡합니다. 다시 시도하는 중입니다…",
      err_too_big: "메시지가 너무 커서 보낼 수 없습니다.",
      err_bad_token: "더 이상 유효하지 않은 면접 세션입니다. 새 면접을 시작해 주세요.",
      err_unknown_session: "면접 세션을 찾을 수 없습니다. 새 면접을 시작해 주세요.",
      err_busy: "지금은 접속자가 많아 자리가 없습니다. 다시 시도하는 중입니다…",
      err_full: "지금은 접속자가 많아 자리가 없습니다. {s}초 후 다시 시도합니다…",
      err_start_timeout: "면접이 제때 시작되지 않았습니다. 새 면접을 시작해 주세요.",
      err_generic: "문제가 발생했습니다.",
      err_not_connected: "지금은 연결되어 있지 않아 답변을 보내지 못했습니다. 잠시 후 다시 시도해 주세요.",
      err_mic_denied: "마이크 권한이 차단되었습니다. 답변은 글로 입력하실 수 있습니다.",
      err_mic_unsupported: "이 브라우저에서는 녹음할 수 없습니다. 답변은 글로 입력하실 수 있습니다.",
      err_mic_ended: "마이크가 중지되었습니다. 답변은 글로 입력하실 수 있습니다.",
      err_worklet: "오디오 처리를 시작하지 못했습니다. 답변은 글로 입력하실 수 있습니다.",
      err_empty_answer: "먼저 답변을 입력해 주세요.",
      err_session_replaced: "이전 세션을 이어서 진행할 수 없어 새 세션을 시작했습니다.",
    },
  };

  // --- state ---------------------------------------------------------------------------

  const counters = {
    audioChunksSent: 0,
    audioBytesSent: 0,
    audioChunksDropped: 0, // mic chunks not sent (not connected, muted link, backlog)
    audioChunksReceived: 0,
    audioBytesReceived: 0,
    audioChunksDiscarded: 0, // received but not played (stopped turn, duplicate, bad header)
    playbackUnderruns: 0,
    eventsReceived: 0,
    eventsIgnored: 0, // seq already seen
    pingsAnswered: 0,
    reconnects: 0,
    errors: 0,
  };

  const S = {
    uiLang: "en",
    conn: "idle",
    ws: null,
    wsGen: 0,
    attempt: 0,
    reconnectTimer: 0,
    watchdogTimer: 0,
    interviewState: "idle",
    question: null,
    report: null,
    lastError: null,
    recentEvents: [],
    session: null, // persisted: see newSession()
  };

  function newSession(settings) {
    return {
      id: null,
      token: null,
      lastSeq: 0,
      settings: settings, // what `start` sends
      startSent: false,
      startConfirmed: false,
      endPending: false,
      finished: false,
      report: null,
      view: { state: "idle", question: null, log: [], nextLogId: 1 },
    };
  }

  function loadSession() {
    try {
      const raw = sessionStorage.getItem(STORE_KEY);
      if (!raw) return null;
      const s = JSON.parse(raw);
      if (!s || typeof s !== "object" || !s.settings) return null;
      s.lastSeq = Number(s.lastSeq) || 0;
      s.view = s.view && Array.isArray(s.view.log) ? s.view : { state: "idle", question: null, log: [], nextLogId: 1 };
      return s;
    } catch (_) {
      return null;
    }
  }

  function saveSession() {
    if (!S.session) return;
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(S.session));
    } catch (_) {
      // Storage full or disabled: the live session still works, only reload-resume is lost.
    }
  }

  function clearSession() {
    S.session = null;
    try {
      sessionStorage.removeItem(STORE_KEY);
    } catch (_) {
      /* ignore */
    }
  }

  // --- tiny DOM helpers ----------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);

  function el(tag, opts, children) {
    const node = document.createElement(tag);
    if (opts) {
      if (opts.cls) node.className = opts.cls;
      if (opts.text != null) node.textContent = String(opts.text);
      if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, String(v));
    }
    if (children) for (const c of children) if (c) node.appendChild(c);
    return node;
  }

  function t(key, vars) {
    const table = I18N[S.uiLang] || I18N.en;
    let s = table[key] != null ? table[key] : I18N.en[key] != null ? I18N.en[key] : key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] != null ? String(vars[k]) : m));
    return s;
  }

  function applyI18n() {
    document.documentElement.lang = S.uiLang;
    document.title = S.uiLang === "ko" ? "Parley — 모의 면접" : "Parley — mock interview";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
    $("#ui-lang").setAttribute("aria-label", t("ui_language"));
    $("#mic-level").setAttribute("aria-label", t("mic_level"));
    renderConn();
    renderMuteButton();
    renderMicStatus();
    renderState();
    renderQuestion();
    renderLogAll();
    renderEndButton();
    if (S.report) renderReport(S.report);
  }

  // --- toasts (non-intrusive errors and notices) ---------------------------------------

  function toast(text, opts) {
    const box = $("#toasts");
    const kind = (opts && opts.kind) || "error";
    const item = el("div", { cls: "toast " + kind, text: text });
    const close = el("button", { cls: "toast-close", text: "×", attrs: { type: "button", "aria-label": "Close" } });
    close.addEventListener("click", () => item.remove());
    item.appendChild(close);
    box.appendChild(item);
    while (box.children.length > 3) box.firstChild.remove();
    if (!(opts && opts.sticky)) setTimeout(() => item.remove(), (opts && opts.ms) || 6000);
  }

  function showError(code, message) {
    counters.errors++;
    S.lastError = { code: code, message: message, at: Date.now() };
    const key = "err_" + code;
    const known = I18N.en[key] != null;
    let text = known ? t(key) : message || t("err_generic");
    // Server detail helps when the code is generic; keep it short and as plain text.
    if (known && message && (code === "bad_message" || code === "bad_json")) text += " (" + String(message).slice(0, 160) + ")";
    toast(text, { kind: code === "unavailable" || code === "rate_limited" ? "warn" : "error" });
  }

  // --- views ---------------------------------------------------------------------------

  function showView(name) {
    for (const v of ["setup", "interview", "report"]) $("#" + v + "-view").hidden = v !== name;
    const main = $("#main");
    if (main) main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  // --- connection indicator ------------------------------------------------------------

  function setConn(state) {
    S.conn = state;
    renderConn();
  }

  function renderConn() {
    const box = $("#connection");
    box.dataset.conn = S.conn;
    $("#connection-label").textContent = t("conn_" + S.conn);
  }

  // --- interview state, question, transcript -------------------------------------------

  function renderState() {
    const pill = $("#interview-state");
    const st = S.interviewState || "idle";
    pill.dataset.state = st;
    pill.textContent = I18N.en["state_" + st] != null ? t("state_" + st) : st;
    document.body.dataset.state = st;
  }

  function kindLabel(q) {
    if (!q) return "";
    if (q.kind === "main") {
      return q.total > 0 ? t("kind_main", { index: q.index || 1, total: q.total }) : t("kind_main_short");
    }
    return I18N.en["kind_" + q.kind] != null ? t("kind_" + q.kind) : "";
  }

  function renderQuestion() {
    const q = S.question;
    const textEl = $("#question-text");
    if (S.interviewState === "reporting" && !S.report) {
      $("#question-kind").textContent = "";
      textEl.textContent = t("report_pending");
      textEl.classList.add("muted");
      return;
    }
    textEl.classList.toggle("muted", !q);
    textEl.textContent = q ? q.text : t("waiting");
    $("#question-kind").textContent = kindLabel(q);
    if (q && q.kind === "main" && q.total > 0) $("#progress").textContent = q.index + " / " + q.total;
  }

  // Conversation log: entries are persisted in the session so a reload shows the history.
  const logNodes = new Map(); // entry id -> <li>

  function logEntries() {
    return S.session ? S.session.view.log : [];
  }

  function addLog(entry) {
    if (!S.session) return entry;
    const view = S.session.view;
    entry.id = view.nextLogId++;
    view.log.push(entry);
    while (view.log.length > MAX_LOG) {
      const old = view.log.shift();
      const node = logNodes.get(old.id);
      if (node) node.remove();
      logNodes.delete(old.id);
    }
    renderLogEntry(entry);
    return entry;
  }

  function whoLabel(entry) {
    if (entry.who === "interviewer") return t("who_interviewer");
    return entry.typed ? t("who_you_typed") : t("who_you");
  }

  function renderLogEntry(entry) {
    let li = logNodes.get(entry.id);
    const list = $("#log");
    // Follow new lines only if the reader has not scrolled up to read older ones.
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    if (!li) {
      li = el("li");
      logNodes.set(entry.id, li);
      list.appendChild(li);
    }
    li.className = "log-entry " + entry.who + (entry.partial ? " partial" : "");
    // Partial transcripts change many times a second: keep them out of the live region.
    if (entry.partial) li.setAttribute("aria-hidden", "true");
    else li.removeAttribute("aria-hidden");
    const who = el("span", { cls: "who", text: whoLabel(entry) });
    const label = entry.who === "interviewer" ? kindLabel(entry) : "";
    const kind = label ? el("span", { cls: "kind", text: label }) : document.createTextNode("");
    li.replaceChildren(who, kind, el("span", { cls: "text", text: entry.text }));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderLogAll() {
    $("#log").replaceChildren();
    logNodes.clear();
    for (const e of logEntries()) renderLogEntry(e);
  }

  function onQuestion(msg) {
    const q = {
      turn: Number(msg.turn) || 0,
      text: String(msg.text == null ? "" : msg.text),
      kind: String(msg.kind || "main"),
      index: Number(msg.index) || 0,
      total: Number(msg.total) || 0,
    };
    S.question = q;
    if (S.session) S.session.view.question = q;
    setLive("", false);
    renderQuestion();
    addLog({ who: "interviewer", text: q.text, turn: q.turn, kind: q.kind, index: q.index, total: q.total });
  }

  function setLive(text, partial) {
    const live = $("#live-transcript");
    live.textContent = text;
    live.classList.toggle("partial", !!partial);
  }

  function onTranscript(msg) {
    const turn = Number(msg.turn) || 0;
    const text = String(msg.text == null ? "" : msg.text);
    const log = logEntries();
    const pending = log.find((e) => e.who === "candidate" && e.partial && e.turn === turn);
    if (!msg.final) {
      setLive(text, true);
      if (!text) return;
      if (pending) {
        pending.text = text;
        renderLogEntry(pending);
      } else {
        addLog({ who: "candidate", text: text, turn: turn, partial: true });
      }
      return;
    }
    setLive(text, false);
    if (pending) {
      if (!text.trim()) {
        log.splice(log.indexOf(pending), 1);
        const node = logNodes.get(pending.id);
        if (node) node.remove();
        logNodes.delete(pending.id);
        return;
      }
      pending.text = text;
      pending.partial = false;
      renderLogEntry(pending);
      return;
    }
    if (!text.trim()) return;
    // A typed answer may come back as the final transcript: confirm it instead of doubling.
    const typed = log.find((e) => e.typed && !e.confirmed && e.text.trim() === text.trim());
    if (typed) {
      typed.confirmed = true;
      typed.turn = turn;
      return;
    }
    addLog({ who: "candidate", text: text, turn: turn, partial: false });
  }

  // --- audio: one AudioContext for capture and playback --------------------------------

  const audio = {
    ctx: null,
    stream: null,
    source: null,
    node: null,
    micState: "off", // off | on | unavailable
    micStarting: null,
    workletCtx: null,
    muted: false,
    level: 0,
    shownLevel: 0,
    rafId: 0,
    lastAria: 0,
  };

  function ensureAudioContext() {
    if (!audio.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      audio.ctx = new Ctx({ latencyHint: "interactive" });
      audio.ctx.addEventListener("statechange", () => {
        // After a reload the context starts locked; once a gesture unlocks it, bring the
        // microphone back for the interview that is still running.
        if (audio.ctx.state === "running" && S.session && !S.session.finished && audio.micState === "off") startMic();
        updateUnlockButton();
      });
    }
    if (audio.ctx.state === "suspended") audio.ctx.resume().catch(() => {});
    return audio.ctx;
  }

  function updateUnlockButton() {
    const btn = $("#audio-unlock");
    const inInterview = !!S.session && !S.session.finished;
    const locked = !audio.ctx || audio.ctx.state !== "running";
    btn.hidden = !(inInterview && (locked || audio.micState === "off"));
  }

  function startMic() {
    if (audio.micState === "on") return Promise.resolve();
    if (!audio.micStarting) audio.micStarting = openMic().finally(() => (audio.micStarting = null));
    return audio.micStarting;
  }

  async function openMic() {
    const ctx = ensureAudioContext();
    if (!ctx || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !ctx.audioWorklet) {
      audio.micState = "unavailable";
      renderMicStatus();
      toast(t("err_mic_unsupported"), { kind: "warn" });
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
      });
    } catch (err) {
      audio.micState = "unavailable";
      renderMicStatus();
      toast(t(err && err.name === "NotAllowedError" ? "err_mic_denied" : "err_mic_unsupported"), { kind: "warn" });
      return;
    }
    try {
      if (audio.workletCtx !== ctx) {
        await ctx.audioWorklet.addModule(WORKLET_URL); // once per context: names register once
        audio.workletCtx = ctx;
      }
      const node = new AudioWorkletNode(ctx, "pcm16-downsampler", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        channelCount: 1,
        channelCountMode: "explicit",
        channelInterpretation: "speakers",
        processorOptions: { targetRate: TARGET_RATE, chunkMs: CHUNK_MS },
      });
      node.port.onmessage = onMicChunk;
      const source = ctx.createMediaStreamSource(stream);
      source.connect(node);
      // The node writes nothing to its output; connecting it keeps the graph pulling it.
      node.connect(ctx.destination);
      audio.stream = stream;
      audio.source = source;
      audio.node = node;
      audio.micState = "on";
      for (const track of stream.getAudioTracks()) {
        track.enabled = !audio.muted;
        track.addEventListener("ended", () => {
          if (audio.stream === stream) {
            stopMic();
            audio.micState = "unavailable";
            renderMicStatus();
            toast(t("err_mic_ended"), { kind: "warn" });
          }
        });
      }
      node.port.postMessage({ muted: audio.muted });
      startMeter();
    } catch (err) {
      for (const track of stream.getTracks()) track.stop();
      audio.micState = "unavailable";
      toast(t("err_worklet"), { kind: "warn" });
      if (window.console) console.error("parley: worklet", err);
    }
    renderMicStatus();
    updateUnlockButton();
  }

  function stopMic() {
    if (audio.node) {
      try {
        audio.node.port.postMessage({ stop: true });
        audio.node.disconnect();
      } catch (_) {
        /* already gone */
      }
      audio.node.port.onmessage = null;
    }
    if (audio.source) audio.source.disconnect();
    if (audio.stream) for (const track of audio.stream.getTracks()) track.stop();
    audio.node = audio.source = audio.stream = null;
    if (audio.micState === "on") audio.micState = "off";
    audio.level = 0;
    renderMicStatus();
  }

  function onMicChunk(event) {
    const data = event.data || {};
    if (!(data.pcm instanceof ArrayBuffer)) return;
    audio.level = audio.muted ? 0 : levelFromRms(data.rms || 0);
    const ws = S.ws;
    const s = S.session;
    const canSend = ws && ws.readyState === WebSocket.OPEN && s && s.startSent && !s.finished && S.conn === "open";
    if (!canSend || ws.bufferedAmount > MAX_SEND_BUFFER) {
      counters.audioChunksDropped++;
      return;
    }
    ws.send(data.pcm);
    counters.audioChunksSent++;
    counters.audioBytesSent += data.pcm.byteLength;
  }

  function levelFromRms(rms) {
    if (rms <= 0) return 0;
    const db = 20 * Math.log10(rms); // -60 dBFS → 0, 0 dBFS → 1
    return Math.max(0, Math.min(1, (db + 60) / 60));
  }

  function startMeter() {
    if (audio.rafId) return;
    const bar = $("#mic-level-bar");
    const meter = $("#mic-level");
    const frame = (now) => {
      audio.shownLevel = Math.max(audio.level, audio.shownLevel * 0.9);
      bar.style.transform = "scaleX(" + audio.shownLevel.toFixed(3) + ")";
      meter.classList.toggle("hot", audio.shownLevel > 0.92);
      if (now - audio.lastAria > 500) {
        meter.setAttribute("aria-valuenow", String(Math.round(audio.shownLevel * 100)));
        audio.lastAria = now;
      }
      if (audio.micState === "on" || audio.shownLevel > 0.01) {
        audio.rafId = requestAnimationFrame(frame);
      } else {
        audio.rafId = 0;
        bar.style.transform = "scaleX(0)";
        meter.setAttribute("aria-valuenow", "0");
      }
    };
    audio.rafId = requestAnimationFrame(frame);
  }

  function setMuted(muted) {
    audio.muted = !!muted;
    if (audio.stream) for (const track of audio.stream.getAudioTracks()) track.enabled = !audio.muted;
    if (audio.node) audio.node.port.postMessage({ muted: audio.muted });
    renderMuteButton();
    renderMicStatus();
  }

  function renderMuteButton() {
    const btn = $("#mute");
    btn.setAttribute("aria-pressed", String(audio.muted));
    btn.textContent = audio.muted ? t("unmute") : t("mute");
    btn.setAttribute("aria-label", audio.muted ? t("unmute_aria") : t("mute_aria"));
    btn.disabled = audio.micState !== "on";
  }

  function renderMicStatus() {
    const status = $("#mic-status");
    let key = "mic_off";
    if (audio.micState === "unavailable") key = "mic_unavailable";
    else if (audio.micState === "on") key = audio.muted ? "mic_muted" : "mic_on";
    status.textContent = t(key);
    document.body.dataset.mic = audio.micState;
    renderMuteButton();
  }

  // Playback of interviewer speech: gapless per turn; stop_audio cuts a turn at once.
  const player = {
    nextTime: 0,
    turns: new Map(), // turn -> { sources: Set<AudioBufferSourceNode>, lastChunk }
    stopped: new Set(), // turns cut by stop_audio: later chunks are dropped
    active: 0,
  };

  function playerTurn(turn) {
    let entry = player.turns.get(turn);
    if (!entry) {
      entry = { sources: new Set(), lastChunk: -1 };
      player.turns.set(turn, entry);
      if (player.turns.size > 64) {
        const oldest = Math.min(...player.turns.keys());
        if (player.turns.get(oldest).sources.size === 0) player.turns.delete(oldest);
      }
    }
    return entry;
  }

  function onAudioFrame(buf) {
    counters.audioChunksReceived++;
    counters.audioBytesReceived += buf.byteLength;
    if (buf.byteLength < HEADER_BYTES) {
      counters.audioChunksDiscarded++;
      return;
    }
    const dv = new DataView(buf);
    const version = dv.getUint8(0);
    const kind = dv.getUint8(1);
    const turn = dv.getUint16(2, true);
    const chunk = dv.getUint32(4, true);
    const rate = dv.getUint32(8, true);
    const samples = (buf.byteLength - HEADER_BYTES) >> 1;
    if (version !== 1 || kind !== 1 || rate < 3000 || rate > 192000 || samples === 0) {
      counters.audioChunksDiscarded++;
      return;
    }
    if (player.stopped.has(turn)) {
      counters.audioChunksDiscarded++;
      return;
    }
    const entry = playerTurn(turn);
    if (chunk <= entry.lastChunk) {
      counters.audioChunksDiscarded++; // duplicate after a resume
      return;
    }
    entry.lastChunk = chunk;
    const ctx = audio.ctx || ensureAudioContext();
    if (!ctx) {
      counters.audioChunksDiscarded++;
      return;
    }
    const ab = ctx.createBuffer(1, samples, rate);
    const out = ab.getChannelData(0);
    for (let i = 0, o = HEADER_BYTES; i < samples; i++, o += 2) out[i] = dv.getInt16(o, true) / 32768;
    const src = ctx.createBufferSource();
    src.buffer = ab;
    src.connect(ctx.destination);
    const now = ctx.currentTime;
    let start = player.nextTime;
    if (start < now + 0.005) {
      if (entry.sources.size > 0) counters.playbackUnderruns++;
      start = now + PLAYBACK_LEAD_S;
    }
    src.start(start);
    src.parleyEnd = start + ab.duration;
    player.nextTime = src.parleyEnd;
    entry.sources.add(src);
    player.active++;
    renderSpeaking();
    src.onended = () => {
      if (entry.sources.delete(src)) {
        player.active--;
        renderSpeaking();
      }
    };
  }

  function stopTurn(turn) {
    player.stopped.add(turn);
    if (player.stopped.size > 256) player.stopped.delete(Math.min(...player.stopped));
    const entry = player.turns.get(turn);
    if (entry) {
      for (const src of entry.sources) {
        try {
          src.onended = null;
          src.stop();
          src.disconnect();
        } catch (_) {
          /* not started yet or already stopped */
        }
        player.active--;
      }
      entry.sources.clear();
    }
    // Later audio starts right away, not after the gap the cut turn would have filled.
    let end = audio.ctx ? audio.ctx.currentTime : 0;
    for (const e of player.turns.values()) for (const src of e.sources) end = Math.max(end, src.parleyEnd || 0);
    player.nextTime = end;
    renderSpeaking();
  }

  function stopAllAudio() {
    for (const turn of Array.from(player.turns.keys())) stopTurn(turn);
  }

  function renderSpeaking() {
    if (player.active < 0) player.active = 0;
    $("#speaking-indicator").hidden = player.active === 0;
    document.body.dataset.playing = String(player.active > 0);
  }

  // --- WebSocket -----------------------------------------------------------------------

  function wsUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  function send(obj) {
    const ws = S.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = 0;
    dropSocket();
    if (!S.session) return;
    setConn(S.attempt > 0 ? "reconnecting" : "connecting");
    const gen = ++S.wsGen;
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    S.ws = ws;
    let opened = false;
    armWatchdog(); // also bounds a connect that never completes
    ws.onopen = () => {
      if (gen !== S.wsGen) return;
      opened = true;
      armWatchdog();
      sendHello();
    };
    ws.onmessage = (ev) => {
      if (gen !== S.wsGen) return;
      armWatchdog();
      if (typeof ev.data === "string") onText(ev.data);
      else if (ev.data instanceof ArrayBuffer) onAudioFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (gen !== S.wsGen) return;
      if (!opened) {
        refusedAtHandshake(gen);
        return;
      }
      onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  // The handshake failed: a browser cannot see why, so ask. 503 means the service is at
  // capacity (say so and wait Retry-After); anything else is an ordinary reconnect.
  function refusedAtHandshake(gen) {
    clearTimeout(S.watchdogTimer);
    S.ws = null;
    fetch("/ws", { cache: "no-store" })
      .then((res) => {
        if (gen !== S.wsGen) return;
        if (res.status !== 503) {
          scheduleReconnect();
          return;
        }
        const wait = Math.max(1, Math.min(120, parseInt(res.headers.get("Retry-After") || "10", 10) || 10));
        setConn("reconnecting");
        toast(t("err_full").replace("{s}", String(wait)), { kind: "warn" });
        clearTimeout(S.reconnectTimer);
        S.reconnectTimer = setTimeout(connect, wait * 1000);
      })
      .catch(() => {
        if (gen === S.wsGen) scheduleReconnect();
      });
  }

  // Forget the current socket: its late events are ignored (generation check).
  function dropSocket(code) {
    clearTimeout(S.watchdogTimer);
    S.watchdogTimer = 0;
    const ws = S.ws;
    S.ws = null;
    S.wsGen++;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try {
        ws.close(code || 1000);
      } catch (_) {
        /* ignore */
      }
    }
  }

  function armWatchdog() {
    clearTimeout(S.watchdogTimer);
    S.watchdogTimer = setTimeout(() => {
      // No frame (not even a ping) for too long: the link is dead even if TCP says otherwise.
      dropSocket(4000);
      scheduleReconnect();
    }, WATCHDOG_MS);
  }

  function scheduleReconnect() {
    if (!S.session || S.session.finished) {
      setConn("closed");
      return;
    }
    clearTimeout(S.reconnectTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, S.attempt));
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
    S.attempt++;
    counters.reconnects++;
    setConn(navigator.onLine === false ? "offline" : "reconnecting");
    S.reconnectTimer = setTimeout(connect, delay);
  }

  function onClose(code) {
    clearTimeout(S.watchdogTimer);
    S.ws = null;
    if (code === 4401 || code === 4404) {
      sessionGone(code === 4401 ? "bad_token" : "unknown_session");
      return;
    }
    if (code === 1008 && S.lastError && S.lastError.code === "start_timeout") {
      sessionGone("start_timeout");
      return;
    }
    if (!S.session || S.session.finished) {
      setConn("closed");
      return;
    }
    scheduleReconnect();
  }

  function sessionGone(code) {
    clearSession();
    stopMic();
    stopAllAudio();
    setConn("closed");
    S.report = null;
    S.question = null;
    S.interviewState = "idle";
    renderState();
    renderLogAll();
    showView("setup");
    toast(t("err_" + code), { sticky: true });
  }

  function sendHello() {
    const s = S.session;
    const hello = { type: "hello", last_seq: 0 };
    if (s && s.id && s.token) {
      hello.session_id = s.id;
      hello.token = s.token;
      hello.last_seq = s.lastSeq || 0;
    }
    send(hello);
  }

  function sendStart() {
    const s = S.session;
    if (!s || !s.settings) return;
    const st = s.settings;
    const msg = {
      type: "start",
      role: st.role,
      language: st.language,
      difficulty: st.difficulty,
      questions: st.questions,
    };
    if (st.resume_text) msg.resume_text = st.resume_text;
    if (st.job_posting) msg.job_posting = st.job_posting;
    if (send(msg)) {
      s.startSent = true;
      saveSession();
    }
  }

  function onText(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    counters.eventsReceived++;

    // Answer pings before anything else: a busy page must not look dead.
    if (msg.type === "ping") {
      send({ type: "pong", id: msg.id });
      counters.pingsAnswered++;
    }

    const seq = Number(msg.seq) || 0;
    const s = S.session;
    if (seq > 0 && s) {
      if (seq <= s.lastSeq) {
        counters.eventsIgnored++;
        return;
      }
      s.lastSeq = seq;
    }
    S.recentEvents.push({ type: msg.type, seq: seq });
    if (S.recentEvents.length > 100) S.recentEvents.shift();

    switch (msg.type) {
      case "ready":
        onReady(msg);
        break;
      case "state":
        onState(msg);
        break;
      case "question":
        onQuestion(msg);
        break;
      case "transcript":
        onTranscript(msg);
        break;
      case "speaking": {
        const turn = Number(msg.turn) || 0;
        if (player.stopped.delete(turn)) player.turns.delete(turn); // re-spoken from chunk 0
        break;
      }
      case "stop_audio":
        stopTurn(Number(msg.turn) || 0);
        break;
      case "report":
        onReport(msg.report);
        break;
      case "error":
        if (msg.code === "bad_token" || msg.code === "unknown_session") {
          // The close (4401/4404) that follows shows the message and clears the session.
          S.lastError = { code: msg.code, message: String(msg.message || ""), at: Date.now() };
          break;
        }
        showError(String(msg.code || ""), msg.message ? String(msg.message) : "");
        if ((msg.code === "unavailable" || msg.code === "busy") && S.conn !== "open") {
          // hello could not reach the session yet: back off and say hello again.
          dropSocket(1000);
          scheduleReconnect();
        }
        break;
      case "ping":
        break;
      default:
        break; // newer server, older page: ignore what we do not know
    }
    if (seq > 0 && s && S.session === s) {
      if (msg.type !== "state" || msg.state !== "idle") s.startConfirmed = true;
      saveSession();
    }
  }

  function onReady(msg) {
    const s = S.session;
    if (!s) return;
    S.attempt = 0;
    setConn("open");
    const id = String(msg.session_id || "");
    const isNew = !s.id || s.id !== id;
    if (isNew) {
      if (s.id) {
        // We asked to resume but got another session: start over in it.
        toast(t("err_session_replaced"), { kind: "warn" });
        s.view = { state: "idle", question: null, log: [], nextLogId: 1 };
        S.question = null;
        S.interviewState = "idle";
        renderLogAll();
        renderQuestion();
        renderState();
      }
      s.lastSeq = 0;
      s.startSent = false;
      s.startConfirmed = false;
    }
    s.id = id;
    if (msg.token && msg.token !== s.token) {
      s.token = String(msg.token);
      s.reportToken = "";
    }
    saveSession();
    renderReportLink();
    fetchReportToken();
    if (!s.finished && !s.startConfirmed) {
      if (!s.startSent || !msg.resumed) {
        sendStart();
      } else {
        // Start went out just before the link broke: replayed events show whether it
        // arrived; if none come, send it again.
        setTimeout(() => {
          if (S.session === s && !s.startConfirmed && S.conn === "open") sendStart();
        }, 2000);
      }
    }
    if (s.endPending && !s.finished) {
      if (send({ type: "end" })) s.endPending = false;
      saveSession();
    }
  }

  function onState(msg) {
    S.interviewState = String(msg.state || "idle");
    if (S.session) S.session.view.state = S.interviewState;
    renderState();
    renderQuestion();
    if (S.interviewState === "listening") setLive("", false);
  }

  function onReport(report) {
    const s = S.session;
    S.report = report && typeof report === "object" ? report : {};
    if (s) {
      s.finished = true;
      s.report = S.report;
      saveSession();
    }
    stopMic();
    updateUnlockButton();
    renderReport(S.report);
    renderReportLink();
    showView("report");
    // The socket stays open so the closing words still play; a close is not retried now.
  }

  // --- report --------------------------------------------------------------------------

  function asObj(v) {
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  }

  function asList(v) {
    if (Array.isArray(v)) return v;
    if (v == null || v === "") return [];
    return [v];
  }

  function asText(v) {
    if (v == null) return "";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (typeof v === "object") {
      for (const k of ["text", "quote", "content", "message", "summary", "title"]) {
        if (typeof v[k] === "string") return v[k];
      }
    }
    return "";
  }

  function asScore(v) {
    const n = typeof v === "number" ? v : typeof v === "string" ? parseFloat(v) : NaN;
    return Number.isFinite(n) ? Math.max(0, Math.min(5, n)) : null;
  }

  function fmtScore(n) {
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }

  function scoreLabel(key) {
    return I18N.en["score_" + key] != null ? t("score_" + key) : key.replace(/_/g, " ");
  }

  function scoreRow(key, value, big) {
    const n = asScore(value);
    const row = el("div", { cls: "score-row" + (big ? " big" : "") });
    row.appendChild(el("span", { cls: "score-name", text: scoreLabel(key) }));
    const meter = el("div", {
      cls: "score-bar",
      attrs: { role: "meter", "aria-valuemin": 0, "aria-valuemax": 5, "aria-label": scoreLabel(key) },
    });
    const fill = el("div", { cls: "score-fill" });
    if (n != null) {
      fill.style.width = (n / 5) * 100 + "%";
      meter.setAttribute("aria-valuenow", String(n));
      meter.setAttribute("aria-valuetext", t("r_out_of", { value: fmtScore(n) }));
      fill.dataset.band = n >= 4 ? "good" : n >= 3 ? "ok" : "low";
    }
    meter.appendChild(fill);
    row.appendChild(meter);
    row.appendChild(el("span", { cls: "score-value", text: n == null ? "–" : fmtScore(n) + " / 5" }));
    return row;
  }

  function textList(items, cls) {
    const ul = el("ul", { cls: cls || "" });
    for (const it of items) {
      const s = asText(it);
      if (s) ul.appendChild(el("li", { text: s }));
    }
    return ul.children.length ? ul : null;
  }

  function append(parent, child) {
    if (child) parent.appendChild(child);
  }

  function section(title, body, cls) {
    if (!body) return null;
    return el("section", { cls: "card report-section " + (cls || "") }, [el("h2", { text: title }), body]);
  }

  function renderReport(report) {
    const root = $("#report");
    root.replaceChildren();
    const r = asObj(report);
    if (!Object.keys(r).length) {
      root.appendChild(el("p", { cls: "card", text: t("r_empty") }));
      return;
    }
    const s = S.session || {};
    const settings = s.settings || {};
    const role = asText(r.role) || settings.role || "";
    const lang = asText(r.language) || settings.language || "";
    if (role || lang) {
      const roleText = ROLES.includes(role) ? t("role_" + role) : role;
      const langText = lang === "en" || lang === "ko" ? t("lang_" + lang) : lang;
      root.appendChild(el("p", { cls: "report-meta", text: [roleText, langText].filter(Boolean).join(" · ") }));
    }
    if (r.estimated === true) root.appendChild(el("p", { cls: "notice report-estimated", text: t("r_estimated") }));

    // Overall scores. The server sends `overall` as a number beside `scores`; older
    // shapes sent one object with every criterion.
    const overall = typeof r.overall === "number" || r.overall == null
      ? Object.assign({}, asObj(r.scores), r.overall == null ? {} : { overall: r.overall })
      : asObj(r.overall);
    const scores = el("div", { cls: "scores" });
    if (overall.overall != null) scores.appendChild(scoreRow("overall", overall.overall, true));
    for (const key of SCORE_KEYS) if (overall[key] != null) scores.appendChild(scoreRow(key, overall[key]));
    for (const [key, v] of Object.entries(overall)) {
      if (key !== "overall" && !SCORE_KEYS.includes(key) && asScore(v) != null) scores.appendChild(scoreRow(key, v));
    }
    append(root, section(t("r_overall"), scores.children.length ? scores : null, "overall"));

    const summary = asText(r.summary);
    append(root, section(t("r_summary"), summary ? el("p", { cls: "prose", text: summary }) : null));

    const two = el("div", { cls: "two-col" });
    const strengths = section(t("r_strengths"), textList(asList(r.strengths), "bullets good"));
    const improvements = section(t("r_improvements"), textList(asList(r.improvements), "bullets improve"));
    append(two, strengths);
    append(two, improvements);
    if (two.children.length) root.appendChild(two);

    // Per answer.
    const answers = asList(r.answers).map(asObj).filter((a) => Object.keys(a).length);
    if (answers.length) {
      const wrap = el("section", { cls: "answers" }, [el("h2", { text: t("r_answers") })]);
      answers.forEach((a, i) => wrap.appendChild(answerCard(a, i)));
      root.appendChild(wrap);
    }

    // Transcript: the server's if present, else what this page saw.
    append(root, section(t("r_transcript"), transcriptList(r.transcript), "transcript"));
  }

  function answerCard(a, i) {
    const card = el("article", { cls: "card answer-card" });
    card.appendChild(el("h3", { text: t("r_answer_n", { n: i + 1 }) }));
    const q = asText(a.question);
    if (q) {
      card.appendChild(el("p", { cls: "label", text: t("r_question") }));
      card.appendChild(el("p", { cls: "q", text: q }));
    }
    card.appendChild(el("p", { cls: "label", text: t("r_answer") }));
    const ans = asText(a.answer);
    card.appendChild(el("p", { cls: "a" + (ans ? "" : " muted"), text: ans || t("r_no_answer") }));
    const sc = asObj(a.scores);
    const keys = SCORE_KEYS.filter((k) => sc[k] != null).concat(
      Object.keys(sc).filter((k) => !SCORE_KEYS.includes(k) && asScore(sc[k]) != null)
    );
    if (keys.length) {
      const chips = el("ul", { cls: "chips", attrs: { "aria-label": t("r_overall") } });
      for (const k of keys) {
        const n = asScore(sc[k]);
        const chip = el("li", { cls: "chip", text: scoreLabel(k) + " " + (n == null ? "–" : fmtScore(n)) });
        if (n != null) chip.dataset.band = n >= 4 ? "good" : n >= 3 ? "ok" : "low";
        chips.appendChild(chip);
      }
      card.appendChild(chips);
    }
    const feedback = asText(a.feedback);
    if (feedback) card.appendChild(el("p", { cls: "feedback" + (a.fallback === true ? " estimated" : ""), text: feedback }));
    const strength = asText(a.strength) || asList(a.strengths).map(asText).filter(Boolean).join(" ");
    if (strength) card.appendChild(el("div", { cls: "note good" }, [el("strong", { text: t("r_strength") }), el("p", { text: strength })]));
    const improvement = asText(a.improvement) || asList(a.improvements).map(asText).filter(Boolean).join(" ");
    if (improvement) {
      card.appendChild(el("div", { cls: "note improve" }, [el("strong", { text: t("r_improvement") }), el("p", { text: improvement })]));
    }
    const evidence = asList(a.evidence).map(asText).filter(Boolean);
    if (evidence.length) {
      const box = el("div", { cls: "evidence" }, [el("p", { cls: "label", text: t("r_evidence") })]);
      for (const quote of evidence) box.appendChild(el("blockquote", { text: quote }));
      card.appendChild(box);
    }
    return card;
  }

  function transcriptList(transcript) {
    const ol = el("ol", { cls: "log transcript-list" });
    const add = (who, text, cls) => {
      if (!text) return;
      ol.appendChild(el("li", { cls: "log-entry " + cls }, [el("span", { cls: "who", text: who }), el("span", { cls: "text", text: text })]));
    };
    if (typeof transcript === "string" && transcript.trim()) {
      for (const line of transcript.split(/\n+/)) add("", line, "");
    } else if (Array.isArray(transcript) && transcript.length) {
      for (const item of transcript) {
        if (typeof item === "string") {
          add("", item, "");
          continue;
        }
        const o = asObj(item);
        const speaker = asText(o.speaker || o.role || o.who || o.from);
        const interviewer = /^(interviewer|assistant|bot|system|면접관)$/i.test(speaker);
        const candidate = /^(candidate|user|you|human|나)$/i.test(speaker);
        const who = interviewer ? t("who_interviewer") : candidate ? t("who_you") : speaker;
        add(who, asText(o.text != null ? o.text : o.content), interviewer ? "interviewer" : candidate ? "candidate" : "");
      }
    } else {
      for (const e of logEntries()) if (!e.partial) add(whoLabel(e), e.text, e.who);
    }
    return ol.children.length ? ol : null;
  }

  // The shareable link carries a read-only report token (it cannot resume or drive the
  // interview), asked for once with the session token.
  function reportPath() {
    const s = S.session;
    if (!s || !s.id || !s.reportToken) return "";
    return "/sessions/" + encodeURIComponent(s.id) + "/report?token=" + encodeURIComponent(s.reportToken);
  }

  function fetchReportToken() {
    const s = S.session;
    if (!s || !s.id || !s.token || s.reportToken) return;
    fetch("/sessions/" + encodeURIComponent(s.id) + "/share", {
      cache: "no-store",
      headers: { Authorization: "Bearer " + s.token },
    })
      .then((res) => (res.ok ? res.json() : null))
      .then((body) => {
        if (!body || S.session !== s || typeof body.report_token !== "string") return;
        s.reportToken = body.report_token;
        saveSession();
        renderReportLink();
      })
      .catch(() => {
        /* the link appears after the next reconnect */
      });
  }

  function renderReportLink() {
    const path = reportPath();
    const a = $("#report-link");
    if (!path) {
      a.removeAttribute("href");
      a.textContent = "";
      return;
    }
    a.href = path;
    a.textContent = location.origin + path;
  }

  // --- user actions --------------------------------------------------------------------

  function readSettings() {
    const pick = (id, allowed, dflt) => {
      const v = $(id).value;
      return allowed.includes(v) ? v : dflt;
    };
    let n = parseInt($("#f-questions").value, 10);
    if (!Number.isFinite(n)) n = 3;
    return {
      language: pick("#f-language", ["en", "ko"], "en"),
      role: pick("#f-role", ROLES, "general"),
      difficulty: pick("#f-difficulty", DIFFICULTIES, "mid"),
      questions: Math.max(1, Math.min(10, n)),
      resume_text: $("#f-resume").value.trim().slice(0, MAX_DOC),
      job_posting: $("#f-posting").value.trim().slice(0, MAX_DOC),
    };
  }

  async function onStartSubmit(ev) {
    ev.preventDefault();
    const btn = $("#start");
    if (btn.disabled) return;
    btn.disabled = true;
    // Create/resume the AudioContext inside the click: browsers only allow sound after a gesture.
    ensureAudioContext();
    S.session = newSession(readSettings());
    S.report = null;
    S.question = null;
    S.interviewState = "idle";
    S.attempt = 0;
    player.stopped.clear();
    player.turns.clear();
    saveSession();
    renderLogAll();
    renderState();
    renderQuestion();
    renderEndButton();
    $("#progress").textContent = "";
    setLive("", false);
    showView("interview");
    try {
      await startMic();
    } finally {
      btn.disabled = false;
    }
    updateUnlockButton();
    if (S.session) connect();
  }

  function onAnswerSubmit(ev) {
    ev.preventDefault();
    const box = $("#answer-text");
    const text = box.value.trim().slice(0, MAX_TEXT);
    if (!text) {
      toast(t("err_empty_answer"), { kind: "warn", ms: 3000 });
      return;
    }
    const s = S.session;
    if (!s || !s.startSent || S.conn !== "open" || !send({ type: "answer_text", text: text })) {
      toast(t("err_not_connected"), { kind: "warn" });
      return;
    }
    addLog({ who: "candidate", text: text, typed: true, confirmed: false, turn: S.question ? S.question.turn : 0 });
    saveSession();
    box.value = "";
  }

  function onEnd() {
    const s = S.session;
    if (!s || s.finished) return;
    if (!send({ type: "end" })) s.endPending = true; // sent after the next ready
    s.endRequested = true;
    saveSession();
    renderEndButton();
  }

  function renderEndButton() {
    const btn = $("#end");
    const requested = !!(S.session && S.session.endRequested);
    btn.disabled = requested;
    btn.textContent = requested ? t("ending") : t("end");
  }

  function onNewInterview() {
    dropSocket(1000);
    clearTimeout(S.reconnectTimer);
    stopMic();
    stopAllAudio();
    clearSession();
    S.report = null;
    S.question = null;
    S.interviewState = "idle";
    setConn("idle");
    renderLogAll();
    renderState();
    renderQuestion();
    renderEndButton();
    $("#report").replaceChildren();
    updateUnlockButton();
    showView("setup");
  }

  async function onCopyLink() {
    const path = reportPath();
    if (!path) return;
    const url = location.origin + path;
    try {
      await navigator.clipboard.writeText(url);
      toast(t("copied"), { kind: "info", ms: 2500 });
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($("#report-link"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
  }

  async function onUnlock() {
    const ctx = ensureAudioContext();
    if (ctx && ctx.state !== "running") {
      try {
        await ctx.resume();
      } catch (_) {
        /* still locked */
      }
    }
    if (audio.micState !== "on") await startMic();
    updateUnlockButton();
  }

  // --- debugging hook for tests and curious people ---------------------------------------

  window.parley = Object.freeze({
    get state() {
      return S.interviewState;
    },
    get connection() {
      return S.conn;
    },
    get lastSeq() {
      return S.session ? S.session.lastSeq : 0;
    },
    get sessionId() {
      return S.session ? S.session.id : null;
    },
    get reportUrl() {
      return reportPath() || null;
    },
    get question() {
      return S.question ? Object.assign({}, S.question) : null;
    },
    get report() {
      return S.report;
    },
    get playing() {
      return player.active > 0;
    },
    get mic() {
      return audio.micState;
    },
    get muted() {
      return audio.muted;
    },
    get sampleRate() {
      return audio.ctx ? audio.ctx.sampleRate : null;
    },
    get audioChunksSent() {
      return counters.audioChunksSent;
    },
    get audioChunksReceived() {
      return counters.audioChunksReceived;
    },
    get lastError() {
      return S.lastError;
    },
    get events() {
      return S.recentEvents.slice();
    },
    get log() {
      return logEntries().map((e) => ({ who: e.who, text: e.text, partial: !!e.partial, typed: !!e.typed }));
    },
    counters: counters,
    send: send,
  });

  // --- start-up ------------------------------------------------------------------------

  function chooseUiLang() {
    let stored = null;
    try {
      stored = localStorage.getItem(UI_LANG_KEY);
    } catch (_) {
      /* ignore */
    }
    if (stored === "en" || stored === "ko") return stored;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    return String(langs[0] || "en").toLowerCase().startsWith("ko") ? "ko" : "en";
  }

  function init() {
    S.uiLang = chooseUiLang();
    const uiSelect = $("#ui-lang");
    uiSelect.value = S.uiLang;
    $("#f-language").value = S.uiLang;
    let interviewLangTouched = false;
    $("#f-language").addEventListener("change", () => (interviewLangTouched = true));
    uiSelect.addEventListener("change", () => {
      S.uiLang = uiSelect.value === "ko" ? "ko" : "en";
      try {
        localStorage.setItem(UI_LANG_KEY, S.uiLang);
      } catch (_) {
        /* ignore */
      }
      if (!interviewLangTouched && !S.session) $("#f-language").value = S.uiLang;
      applyI18n();
    });

    $("#setup-form").addEventListener("submit", onStartSubmit);
    $("#answer-form").addEventListener("submit", onAnswerSubmit);
    $("#answer-text").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !ev.isComposing) onAnswerSubmit(ev);
    });
    $("#end").addEventListener("click", onEnd);
    $("#mute").addEventListener("click", () => setMuted(!audio.muted));
    $("#new-interview").addEventListener("click", onNewInterview);
    $("#copy-link").addEventListener("click", onCopyLink);
    $("#audio-unlock").addEventListener("click", onUnlock);
    window.addEventListener("online", () => {
      if (S.session && !S.session.finished && !S.ws) {
        S.attempt = 0;
        connect();
      }
    });
    window.addEventListener("offline", () => {
      if (S.conn !== "open") setConn("offline");
    });

    // Resume after a reload.
    const stored = loadSession();
    if (stored && stored.id && stored.token) {
      S.session = stored;
      S.interviewState = stored.view.state || "idle";
      S.question = stored.view.question || null;
      if (stored.finished && stored.report) {
        S.report = stored.report;
        applyI18n();
        renderReportLink();
        showView("report");
        return;
      }
      applyI18n();
      showView("interview");
      const ctx = ensureAudioContext();
      if (ctx && ctx.state === "running") startMic();
      updateUnlockButton();
      if (ctx) {
        setTimeout(updateUnlockButton, 300);
        const unlock = () => {
          if (audio.ctx && audio.ctx.state !== "running") audio.ctx.resume().catch(() => {});
        };
        document.addEventListener("pointerdown", unlock, { once: true, capture: true });
        document.addEventListener("keydown", unlock, { once: true, capture: true });
      }
      connect();
      return;
    }
    if (stored) clearSession(); // settings without a session id: nothing to resume
    applyI18n();
    showView("setup");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
