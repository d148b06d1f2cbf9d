// truc central-office dashboard. Plain JavaScript, no dependencies: every
// figure comes from the JSON API under /dashboard/api/ (see
// /dashboard/api/openapi.json); the page refreshes what it shows when the
// server-sent event stream says the aggregates changed.
"use strict";
(function () {
  const TZ = "Asia/Ho_Chi_Minh";
  const strings = { vi: {}, en: {} };
  let lang = localStorage.getItem("truc.lang") === "en" ? "en" : "vi";
  let session = null;       // GET /dashboard/api/session
  let indexState = null;    // latest "state" event
  let busy = false, again = false;
  let moreCursor = "";      // search: cursor of the next page

  // ---- helpers -----------------------------------------------------------
  const t = (k, ...a) => (strings[lang][k] ?? strings.vi[k] ?? k).replace(/\{(\d)\}/g, (_, i) => String(a[+i]));

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const locale = () => (lang === "vi" ? "vi-VN" : "en-GB");
  const fmtNum = n => (n === undefined || n === null ? "—" : Number(n).toLocaleString(locale()));
  function fmtTime(s) {
    if (!s) return "";
    return new Intl.DateTimeFormat(locale(), { timeZone: TZ, dateStyle: "short", timeStyle: "medium" }).format(new Date(s));
  }
  function fmtHour(d) {
    return new Intl.DateTimeFormat(locale(), { timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false }).format(d);
  }
  function fmtDur(ms) {
    if (ms === undefined || ms === null) return "—";
    let s = Math.round(ms / 1000);
    if (s < 60) return s + " s";
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    return m + " min " + s + " s";
  }

  async function get(path) {
    const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) { location.replace("/dashboard/login"); throw new Error("signed out"); }
    if (!r.ok) {
      const p = await r.json().catch(() => ({}));
      const err = new Error(p.detail || r.statusText);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token },
      body: JSON.stringify(body || {}),
    });
    if (r.status === 401) { location.replace("/dashboard/login"); throw new Error("signed out"); }
    if (!r.ok) {
      const p = await r.json().catch(() => ({}));
      throw new Error(p.detail || r.statusText);
    }
    return r;
  }

  // ---- routing -----------------------------------------------------------
  function parseRoute() {
    const h = location.hash.replace(/^#\/?/, "");
    const [name, query] = h.split("?", 2);
    return { name: name || "overview", params: new URLSearchParams(query || "") };
  }

  function go(name, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
    const s = q.toString();
    location.hash = "#/" + name + (s ? "?" + s : "");
  }

  const views = { overview, agencies: () => table("agencies"), edges: () => table("edges"), search, letter, sessions };
  const liveViews = new Set(["overview", "agencies", "edges", "letter", "sessions"]);

  // render builds the current view off-screen and swaps it in.
  async function render() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const r = parseRoute();
        document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.route === r.name));
        const view = views[r.name] || overview;
        let node;
        try {
          node = await view(r.params);
        } catch (e) {
          node = el("p", { class: "error", "data-testid": "error" }, t("error") + ": " + e.message);
        }
        const main = document.getElementById("view");
        // A live refresh must not take the focus from a field being typed in.
        const focused = document.activeElement && document.activeElement.id;
        main.replaceChildren(node);
        const refocus = focused && document.getElementById(focused);
        if (refocus && refocus.focus) {
          refocus.focus();
          if (refocus.setSelectionRange && refocus.value) refocus.setSelectionRange(refocus.value.length, refocus.value.length);
        }
        main.dataset.view = r.name;
        main.dataset.cursor = indexState ? indexState.cursor : "";
      } while (again);
    } finally {
      busy = false;
    }
  }

  function refreshLive() {
    if (liveViews.has(parseRoute().name)) render();
  }

  // ---- overview ----------------------------------------------------------
  function card(key, value, cls, title) {
    return el("div", { class: "card " + (cls || ""), "data-k": key, "data-value": value ?? "" },
      el("div", { class: "label" }, title || t(key)),
      el("div", { class: "num" }, typeof value === "string" ? value : fmtNum(value)));
  }

  function hourChart(hours) {
    const W = 640, H = 200, pad = 22, n = hours.length;
    const vals = hours.map(h => h.counts.sent || 0);
    const top = Math.max(1, ...vals);
    const bw = (W - pad) / n;
    const g = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "data-testid": "hour-chart" });
    g.append(svg("line", { class: "axis", x1: pad, y1: H - pad, x2: W, y2: H - pad }));
    g.append(svg("text", { x: 0, y: 10 }, fmtNum(top)));
    hours.forEach((h, i) => {
      const v = vals[i], bh = (H - 2 * pad) * v / top;
      const x = pad + i * bw;
      const bar = svg("rect", { class: "bar", x: x + 1, y: H - pad - bh, width: Math.max(1, bw - 2), height: bh, "data-count": v });
      bar.append(svg("title", {}, `${fmtTime(h.start)}: ${fmtNum(v)} ${t("series_sent")}, ${fmtNum(h.counts.delivered || 0)} ${t("series_delivered")}`));
      g.append(bar);
      if (i % 6 === 0) g.append(svg("text", { x: x, y: H - 6 }, fmtHour(new Date(h.start))));
    });
    return g;
  }

  function liveChart(minutes) {
    const W = 640, H = 200, pad = 22, n = minutes.length;
    const keys = ["sent", "delivered", "status", "rejected"];
    const top = Math.max(1, ...minutes.flatMap(m => keys.map(k => m.counts[k] || 0)));
    const g = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "data-testid": "live-chart" });
    g.append(svg("line", { class: "axis", x1: pad, y1: H - pad, x2: W, y2: H - pad }));
    g.append(svg("text", { x: 0, y: 10 }, fmtNum(top)));
    const step = (W - pad) / Math.max(1, n - 1);
    for (const k of keys) {
      const pts = minutes.map((m, i) => `${(pad + i * step).toFixed(1)},${(H - pad - (H - 2 * pad) * (m.counts[k] || 0) / top).toFixed(1)}`);
      g.append(svg("polyline", { class: "l-" + k, points: pts.join(" ") }));
    }
    minutes.forEach((m, i) => { if (i % 10 === 0) g.append(svg("text", { x: pad + i * step, y: H - 6 }, fmtHour(new Date(m.start)))); });
    return g;
  }

  function countTable(id, map, label, meaning) {
    const rows = Object.entries(map).sort((a, b) => a[0].localeCompare(b[0]));
    if (!rows.length) return el("p", { class: "muted", "data-testid": id }, t("none"));
    return el("table", { "data-testid": id },
      el("thead", {}, el("tr", {}, el("th", {}, t(label)), meaning ? el("th", {}, t("meaning")) : null, el("th", { class: "n" }, t("count")))),
      el("tbody", {}, rows.map(([k, v]) => el("tr", { "data-code": k, "data-value": v },
        el("td", {}, k), meaning ? el("td", {}, t("status_" + k)) : null, el("td", { class: "n" }, fmtNum(v))))));
  }

  async function overview() {
    const o = await get("/dashboard/api/overview?hours=48");
    const s = o.totals;
    indexState = o.index;
    footer(o);
    const sum = o.hours.reduce((a, h) => a + (h.counts.sent || 0), 0);
    return el("div", { "data-testid": "overview" },
      el("div", { class: "cards" },
        card("sent", s.sent, "ok"), card("received", s.received), card("pending", s.pending, s.pending ? "warn" : ""),
        card("await_01", s.await_01, s.await_01 ? "warn" : ""),
        card("await_03", s.await_03, s.await_03 ? "warn" : ""), card("overdue", s.overdue, s.overdue ? "bad" : ""),
        card("rejected", s.rejected, s.rejected ? "bad" : ""), card("refused", s.refused, s.refused ? "bad" : ""),
        card("declined", s.declined), card("recalled", s.recalled), card("updates", s.updates),
        card("median_01", fmtDur(s.median_01_ms)), card("median_03", fmtDur(s.median_03_ms))),
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", {}, t("letters_per_hour") + " — " + fmtNum(sum)), hourChart(o.hours)),
        el("section", { class: "panel" }, el("h2", {}, t("throughput")), liveChart(o.minutes),
          el("div", { class: "legend" }, ["sent", "delivered", "status", "rejected"].map(k => el("span", { class: "k-" + k }, t("series_" + k)))))),
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", {}, t("statuses")), countTable("statuses", o.statuses, "code", true)),
        el("section", { class: "panel" }, el("h2", {}, t("reasons")), countTable("reasons", o.reasons, "reason"),
          el("h2", {}, t("refusals")), countTable("refusals", o.refusals, "reason"))));
  }

  function footer(o) {
    const f = document.getElementById("footer");
    const st = o ? o.index : indexState;
    if (!st) return;
    const parts = [t("index_state") + ": " + t("index_cursor", fmtNum(st.cursor), fmtNum(st.log_size))];
    if (st.log_size > st.cursor) parts.push(t("index_lag", fmtNum(st.log_size - st.cursor)));
    if (o) parts.push(t("sla", o.sla_01 || "—", o.sla_03 || "—"));
    parts.push(t("updated") + " " + fmtTime(new Date().toISOString()));
    f.textContent = parts.join(" · ");
    f.dataset.cursor = st.cursor;
    f.dataset.logSize = st.log_size;
  }

  // ---- agencies and edges ------------------------------------------------
  const statCols = [
    ["sent", "sent"], ["received", "received"], ["pending", "pending"], ["await_01", "await_01"], ["await_03", "await_03"],
    ["overdue", "overdue"], ["rejected", "rejected"], ["refused", "refused"], ["declined", "declined"],
    ["median_01_ms", "median_01", true], ["median_03_ms", "median_03", true],
  ];

  async function table(kind) {
    const p = parseRoute().params;
    const sort = p.get("sort") || "overdue", order = p.get("order") || "desc", q = p.get("q") || "";
    const offset = +(p.get("offset") || 0), limit = 100;
    const qs = new URLSearchParams({ sort, order, q, offset, limit });
    const data = await get(`/dashboard/api/${kind}?${qs}`);
    const nav = params => go(kind, Object.assign({ sort, order, q, offset }, params));
    const cols = [["id", "col_id"], ["name", "col_name"]].concat(kind === "agencies" ? [["edge", "col_edge"]] : [], statCols);
    const head = el("tr", {}, cols.map(([k, label, dur]) => {
      const cls = "sortable" + (k === sort ? " sorted-" + order : "") + (k.length && !["id", "name", "edge"].includes(k) ? " n" : "");
      return el("th", {
        class: cls, "data-sort": k,
        onclick: () => nav({ sort: k, order: k === sort && order === "desc" ? "asc" : "desc", offset: 0 }),
      }, t(label));
    }));
    const body = data.rows.map(r => el("tr", { "data-id": r.id },
      cols.map(([k, , dur]) => {
        if (k === "id" || k === "name" || k === "edge") return el("td", { class: k }, r[k] || "");
        const v = r[k];
        return el("td", { class: "n" + (k === "overdue" && v ? " overdue" : ""), "data-k": k, "data-value": v ?? "" }, dur ? fmtDur(v) : fmtNum(v));
      })));
    let timer;
    const typing = document.getElementById("filter-" + kind); // keep what is being typed
    const filter = el("input", {
      type: "search", id: "filter-" + kind, placeholder: t("filter"), value: typing ? typing.value : q, "aria-label": t("filter"),
      oninput: e => { clearTimeout(timer); timer = setTimeout(() => nav({ q: e.target.value, offset: 0 }), 300); },
    });
    const end = Math.min(data.total, offset + data.rows.length);
    return el("div", { "data-testid": kind },
      el("div", { class: "toolbar" }, filter,
        el("span", { class: "muted" }, t("rows", data.total ? offset + 1 : 0, end, data.total)),
        el("button", { type: "button", disabled: offset === 0, onclick: () => nav({ offset: Math.max(0, offset - limit) }) }, t("prev")),
        el("button", { type: "button", disabled: end >= data.total, onclick: () => nav({ offset: offset + limit }) }, t("next"))),
      el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body))));
  }

  // ---- search ------------------------------------------------------------
  const searchFields = [["document_id", "document_id", "text"], ["code", "code_notation", "text"], ["sender", "sender", "text"],
    ["recipient", "recipient", "text"], ["from", "date_from", "date"], ["to", "date_to", "date"]];

  function resultRow(l) {
    const stages = Object.entries(l.stages || {}).map(([k, v]) => `${t("stage_" + k)}: ${v}`).join(", ");
    const flags = [l.accepted ? null : t("not_accepted"), l.updates ? t("updates_count", l.updates) : null,
      l.recalled ? t("recalled_flag") : null, l.rejection_count ? t("rejections_count", l.rejection_count) : null].filter(Boolean).join(" · ");
    return el("tr", { class: "click", "data-testid": "result", "data-key": l.key, onclick: () => go("letter", { key: l.key }) },
      el("td", {}, fmtTime(l.at)), el("td", {}, l.document_id), el("td", {}, l.code || ""), el("td", {}, l.subject || ""),
      el("td", {}, l.sender, l.sender_name ? el("div", { class: "muted" }, l.sender_name) : null),
      el("td", { class: "n" }, fmtNum(l.recipients)),
      el("td", {}, stages, l.overdue ? el("div", { class: "overdue" }, t("overdue") + ": " + l.overdue) : null, flags ? el("div", { class: "muted" }, flags) : null));
  }

  async function search(p) {
    const form = el("form", { class: "search", "data-testid": "search-form" },
      searchFields.map(([k, label, type]) => el("label", {}, t(label), el("input", { type, name: k, value: p.get(k) || "" }))),
      el("button", { type: "submit", class: "primary" }, t("search")));
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const params = {};
      new FormData(form).forEach((v, k) => { params[k] = String(v).trim(); });
      go("search", params);
    });
    const tbody = el("tbody", {});
    const out = el("div", {}, form);
    const any = searchFields.some(([k]) => p.get(k));
    if (!any) return out;
    const qs = new URLSearchParams();
    searchFields.forEach(([k]) => { if (p.get(k)) qs.set(k, p.get(k)); });
    const res = await get("/dashboard/api/search?" + qs);
    res.letters.forEach(l => tbody.append(resultRow(l)));
    moreCursor = res.next || "";
    const note = el("p", { class: "muted" }, res.partial ? t("partial", fmtNum(res.examined)) : "");
    const more = el("button", {
      type: "button", hidden: !moreCursor, onclick: async () => {
        qs.set("cursor", moreCursor);
        const r = await get("/dashboard/api/search?" + qs);
        r.letters.forEach(l => tbody.append(resultRow(l)));
        moreCursor = r.next || "";
        more.hidden = !moreCursor;
        note.textContent = r.partial ? t("partial", fmtNum(r.examined)) : "";
      },
    }, t("more"));
    out.append(el("h2", {}, t("nav_search")));
    if (!res.letters.length && !moreCursor) {
      out.append(el("p", { "data-testid": "no-results" }, t("no_results")));
      return out;
    }
    out.append(el("table", { "data-testid": "results" },
      el("thead", {}, el("tr", {}, ["at", "document_id", "code_notation", "subject", "sender", "recipients", "state"].map(k => el("th", {}, t(k))))),
      tbody), note, more);
    return out;
  }

  // ---- one letter --------------------------------------------------------
  function eventLabel(ev) {
    if (ev.kind === "sent" && ev.doc_type && ev.doc_type !== "0") return t("ev_update");
    if (ev.kind === "status") return t("ev_status") + " " + ev.status + " — " + t("status_" + ev.status);
    return t("ev_" + ev.kind) + (ev.reason ? " (" + ev.reason + ")" : "");
  }

  async function letter(p) {
    const key = p.get("key") || "";
    let v;
    try {
      v = await get("/dashboard/api/letter?key=" + encodeURIComponent(key));
    } catch (e) {
      if (e.status === 404) return el("p", { class: "error", "data-testid": "not-found" }, t("not_found"));
      throw e;
    }
    const l = v.letter || {};
    const fact = (k, val) => (val ? [el("dt", {}, t(k)), el("dd", {}, val)] : []);
    const facts = el("dl", { class: "facts", "data-testid": "letter-facts" },
      fact("key", v.key), fact("document_id", l.document_id), fact("code_notation", l.code), fact("subject", l.subject),
      fact("type_name", l.type_name), fact("sender", l.sender ? l.sender + (l.sender_name ? " — " + l.sender_name : "") : ""),
      fact("at", fmtTime(l.at)), fact("message_id", l.message_id), fact("promulgation_date", l.promulgation_date),
      fact("due_date", l.due_date), fact("updates", l.updates ? fmtNum(l.updates) : ""), fact("recalled", l.recalled ? t("yes") : ""),
      fact("state", v.letter ? (l.accepted ? t("accepted") : t("not_accepted")) : t("loading")));
    // Keep open the timelines the user opened, across live refreshes.
    const opened = new Set([...document.querySelectorAll("details[open] ol[data-organ]")].map(o => o.dataset.organ));
    const rows = [];
    for (const r of v.recipients) {
      rows.push(el("tr", { "data-testid": "recipient", "data-organ": r.organ_id, "data-stage": r.stage || "" },
        el("td", {}, r.organ_id, r.name ? el("div", { class: "muted" }, r.name) : null), el("td", {}, r.edge || ""),
        el("td", { class: r.overdue ? "overdue" : "" }, r.stage ? t("stage_" + r.stage) : "", r.overdue ? " — " + t("overdue") : ""),
        el("td", {}, fmtTime(r.deadline)), el("td", {}, fmtTime(r.delivered_at)), el("td", {}, fmtTime(r.at_01)),
        el("td", {}, fmtTime(r.at_03)), el("td", {}, r.status ? r.status + " — " + t("status_" + r.status) : "")));
      rows.push(el("tr", {}, el("td", { colspan: 8 },
        el("details", { open: opened.has(r.organ_id) }, el("summary", {}, t("timeline") + " (" + r.events.length + ")"),
          el("ol", { class: "timeline", "data-testid": "timeline", "data-organ": r.organ_id },
            r.events.map(ev => el("li", { "data-kind": ev.kind, "data-status": ev.status || "" }, fmtTime(ev.at) + " — " + eventLabel(ev))))))));
    }
    const out = el("div", { "data-testid": "letter", "data-key": v.key },
      el("h2", {}, t("letter") + (l.code ? " " + l.code : "")), facts,
      el("p", {}, el("a", { href: v.evidence_url, target: "_blank", rel: "noopener", "data-testid": "evidence-link" }, t("evidence")),
        " · ", el("a", { href: v.admin_url, target: "_blank", rel: "noopener", "data-testid": "admin-link" }, t("admin_evidence"))),
      el("h2", {}, t("recipients") + " (" + v.recipients.length + ")"),
      el("table", { "data-testid": "recipients" },
        el("thead", {}, el("tr", {}, ["recipient", "col_edge", "stage", "deadline", "delivered_at", "at_01", "at_03", "latest_status"].map(k => el("th", {}, t(k))))),
        el("tbody", {}, rows)));
    if (v.rejections.length) {
      out.append(el("h2", {}, t("axis_rejections")), el("table", { "data-testid": "rejections" },
        el("thead", {}, el("tr", {}, ["at", "message_id", "reason"].map(k => el("th", {}, t(k))))),
        el("tbody", {}, v.rejections.map(r => el("tr", {}, el("td", {}, fmtTime(r.at)), el("td", {}, r.message_id), el("td", {}, r.reason + (r.detail ? " — " + r.detail : "")))))));
    }
    return out;
  }

  // ---- sessions (admin) --------------------------------------------------
  async function sessions() {
    const data = await get("/dashboard/api/admin/sessions");
    return el("div", { "data-testid": "sessions" }, el("h2", {}, t("sessions")),
      el("table", {},
        el("thead", {}, el("tr", {}, ["user", "role", "created", "last_seen", ""].map(k => el("th", {}, k ? t(k) : "")))),
        el("tbody", {}, data.sessions.map(s => el("tr", { "data-session": s.id },
          el("td", {}, s.user), el("td", {}, s.role), el("td", {}, fmtTime(s.created)), el("td", {}, fmtTime(s.last_seen)),
          el("td", {}, s.current ? t("current") : el("button", { type: "button", onclick: async () => { await post("/dashboard/api/admin/sessions/revoke", { id: s.id }); render(); } }, t("revoke"))))))));
  }

  // ---- language, session, live stream -----------------------------------
  function applyStrings() {
    document.documentElement.lang = lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach(e => { e.textContent = t(e.dataset.i18n); });
    const live = document.getElementById("live");
    live.textContent = live.classList.contains("on") ? t("live") : t("offline");
  }

  function connect() {
    const es = new EventSource("/dashboard/api/stream");
    const live = document.getElementById("live");
    es.addEventListener("open", () => { live.classList.add("on"); live.textContent = t("live"); });
    es.addEventListener("error", () => { live.classList.remove("on"); live.textContent = t("offline"); });
    es.addEventListener("state", ev => {
      indexState = JSON.parse(ev.data);
      live.classList.add("on");
      live.textContent = t("live");
      footer(null);
      refreshLive();
    });
    es.addEventListener("signout", () => { es.close(); location.replace("/dashboard/login"); });
  }

  async function start() {
    const [vi, en] = await Promise.all(["vi", "en"].map(l => fetch("/dashboard/assets/i18n/" + l + ".json").then(r => r.json())));
    strings.vi = vi; strings.en = en;
    session = await get("/dashboard/api/session");
    document.getElementById("user").textContent = session.user + " (" + session.role + ")";
    document.getElementById("nav-sessions").hidden = session.role !== "admin";
    applyStrings();
    document.getElementById("lang").addEventListener("click", () => {
      lang = lang === "vi" ? "en" : "vi";
      localStorage.setItem("truc.lang", lang);
      applyStrings();
      render();
    });
    document.getElementById("logout").addEventListener("click", async () => {
      await post("/dashboard/api/logout");
      location.replace("/dashboard/login");
    });
    window.addEventListener("hashchange", render);
    await render();
    connect();
  }

  start().catch(e => {
    document.getElementById("view").replaceChildren(el("p", { class: "error" }, String(e.message || e)));
  });
})();
