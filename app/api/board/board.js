// The live board: polls the board's JSON endpoints every few seconds and
// draws them. The token stays in this tab (sessionStorage); the page can
// also be opened as /board?incident=ID#token=TOKEN.
(function () {
  "use strict";
  var M = window.MUSTER_MESSAGES || {};
  function t(k) { return M[k] || k; }
  // stateLabel names a step state in the page's language, or as the
  // workflows call it when the catalogue has no label for it.
  function stateLabel(s) { return M["step_" + s] || s; }
  var POLL_MS = 3000;
  var state = { incident: "", token: "", timer: null, open: {} };

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function fmtTime(s) {
    if (!s) return "—";
    var d = new Date(s);
    return d.toLocaleString(document.documentElement.lang || undefined, { hour12: false });
  }
  function pct(f) { return (100 * f).toFixed(1) + "%"; }
  function num(n) { return Number(n).toLocaleString(document.documentElement.lang || undefined); }

  function api(path) {
    return fetch(path, { headers: { "Authorization": "Bearer " + state.token, "Accept": "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || r.statusText);
        return body;
      });
    });
  }

  function table(head, rows) {
    var tb = el("table", null, [el("tr", null, head.map(function (h) { return el("th", { text: h }); }))]);
    rows.forEach(function (r) { tb.appendChild(r); });
    return tb;
  }
  function td(text, cls) { return el("td", { text: text == null ? "" : String(text), cls: cls || "" }); }
  function link(href, text) { return href ? el("a", { href: href, target: "_blank", rel: "noopener", text: text }) : document.createTextNode(text); }
  function bar(f) { var b = el("div", { cls: "bar", title: pct(f) }); var i = el("i"); i.style.width = Math.min(100, 100 * f).toFixed(1) + "%"; b.appendChild(i); return b; }

  function card(value, label, cls) { return el("div", { cls: "card " + (cls || "") }, [el("b", { text: String(value) }), el("span", { text: label })]); }

  function draw(b) {
    var s = document.getElementById("summary");
    s.replaceChildren(
      el("div", { cls: "card" }, [el("b", { cls: "state-" + b.state, text: stateLabel(b.state) }), el("span", null, [link(b.ui, b.incident + " · " + b.title)])]),
      card(b.compounds.sealed + " / " + b.compounds.holding, t("compounds")),
      card(b.staff.acknowledged + " / " + b.staff.placed, t("staff")),
      card(b.findings.open + " / " + b.findings.overdue, t("findings"), b.findings.overdue ? "late" : ""),
      card(b.attention.length, t("attention"), b.attention.length ? "late" : "")
    );
    var att = document.getElementById("attention");
    if (!b.attention.length) att.replaceChildren(el("p", { cls: "empty", text: t("none_attention") }));
    else att.replaceChildren(table([t("step"), t("state"), t("why"), t("act")], b.attention.map(function (st) {
      var acts = el("td", null, [link(st.ui, t("open_ui"))]);
      (st.commands || []).forEach(function (c) { acts.appendChild(el("code", { text: c })); });
      return el("tr", { "data-step": st.path }, [el("td", null, [link(st.ui, st.path)]), td(st.overdue && st.state !== "stalled" ? stateLabel(st.state) + " · " + t("overdue") : stateLabel(st.state), "state-" + st.state),
        td([st.detail, st.last_error].filter(Boolean).join(" — ")), acts]);
    })));

    var rounds = document.getElementById("rounds");
    if (!b.rounds.length) rounds.replaceChildren(el("p", { cls: "empty", text: t("none_rounds") }));
    else {
      var rows = [];
      b.rounds.forEach(function (r) {
        rows.push(el("tr", { cls: "round" }, [el("td", null, [el("b", { text: r.area_name + " · " + t("round") + " " + r.round })]), td(num(r.sampled) + " / " + num(r.population), "n"),
          el("td", null, [bar(r.coverage), document.createTextNode(pct(r.coverage))]), td(fmtTime(r.projected_finish), r.late ? "late" : ""), td(fmtTime(r.deadline)), td(r.closed_at ? t("closed") : t("round_open"))]));
        r.points.forEach(function (p) {
          rows.push(el("tr", { cls: "point", "data-point": p.site }, [td("↳ " + p.name + " (" + p.site + ", " + p.capacity_per_hour + "/h)"), td(num(p.sampled) + " / " + num(p.expected), "n"),
            el("td", null, [bar(p.coverage), document.createTextNode(pct(p.coverage))]), td(fmtTime(p.projected_finish)), td(""), td("")]));
        });
      });
      rounds.replaceChildren(table([t("round"), t("sampled_col"), t("coverage"), t("projected"), t("deadline"), t("state")], rows));
    }

    var sup = document.getElementById("supply");
    if (!b.supply.length) sup.replaceChildren(el("p", { cls: "empty", text: t("none_supply") }));
    else sup.replaceChildren(table([t("area"), t("commodity"), t("stock"), t("days")], b.supply.map(function (l) {
      return el("tr", null, [td(l.area), td(l.commodity), td(l.stock_tonnes.toFixed(2), "n"), td(l.days.toFixed(1), "n " + (l.low ? "late" : ""))]);
    })));

    document.getElementById("steps").replaceChildren(table([t("step"), t("area"), t("state"), t("detail"), t("deadline")], b.steps.map(function (st) {
      return el("tr", null, [el("td", null, [link(st.ui, st.path)]), td(st.area), td(stateLabel(st.state) + (st.overdue ? " · " + t("overdue") : ""), "state-" + st.state), td(st.detail), td(fmtTime(st.deadline_at))]);
    })));
  }

  // The tree loads one level at a time: a branch's children are fetched
  // when it is opened, and open branches are refreshed on every poll.
  function areaItem(a) {
    var li = el("li", { "data-area": a.code, "data-state": a.state });
    var toggle = el("button", { type: "button", text: a.children ? (state.open[a.code] ? "▾" : "▸") : "·", "aria-label": a.code });
    var cov = a.population ? " · " + t("sampled") + " " + num(a.sampled) + " / " + num(a.population) : "";
    li.append(toggle, el("span", { cls: "dot s-" + a.state, title: t("state_" + a.state) }), el("span", { text: a.name }),
      el("span", { cls: "fig", text: t("state_" + a.state) + (a.compounds ? " · " + a.sealed + "/" + a.compounds + " " + t("sealed") : "") + cov }));
    var sub = el("ul");
    li.appendChild(sub);
    if (a.children) {
      toggle.addEventListener("click", function () {
        if (state.open[a.code]) { delete state.open[a.code]; toggle.textContent = "▸"; sub.replaceChildren(); }
        else { state.open[a.code] = true; toggle.textContent = "▾"; loadLevel(a.code, sub); }
      });
      if (state.open[a.code]) loadLevel(a.code, sub);
    }
    return li;
  }
  function loadLevel(parent, ul) {
    return api("/v1/board/" + encodeURIComponent(state.incident) + "/areas" + (parent ? "?parent=" + encodeURIComponent(parent) : "")).then(function (res) {
      ul.replaceChildren.apply(ul, res.areas.map(areaItem));
    });
  }

  function poll() {
    clearTimeout(state.timer);
    Promise.all([api("/v1/board/" + encodeURIComponent(state.incident) + "?lang=" + encodeURIComponent(document.documentElement.lang || "")).then(draw), loadLevel("", document.getElementById("tree"))]).then(function () {
      document.getElementById("board").hidden = false;
      document.getElementById("status").textContent = t("updated") + " " + new Date().toLocaleTimeString(undefined, { hour12: false });
      document.body.setAttribute("data-loaded", "1");
    }).catch(function (e) {
      document.getElementById("status").textContent = t("error") + ": " + e.message;
    }).then(function () { state.timer = setTimeout(poll, POLL_MS); });
  }

  function start() {
    document.querySelectorAll("[data-msg]").forEach(function (e) { e.textContent = t(e.getAttribute("data-msg")); });
    var leg = document.getElementById("legend");
    ["sealed", "testing", "lifted", "calm"].forEach(function (s) { leg.append(el("span", null, [el("span", { cls: "dot s-" + s }), t("state_" + s)])); });
    var q = new URLSearchParams(location.search);
    var h = new URLSearchParams(location.hash.slice(1));
    if (h.get("token")) { sessionStorage.setItem("muster-token", h.get("token")); history.replaceState(null, "", location.pathname + location.search); }
    state.token = sessionStorage.getItem("muster-token") || "";
    state.incident = q.get("incident") || "";
    document.getElementById("incident").value = state.incident;
    document.getElementById("token").value = state.token;
    document.getElementById("pick").addEventListener("submit", function (ev) {
      ev.preventDefault();
      state.incident = document.getElementById("incident").value.trim();
      state.token = document.getElementById("token").value.trim();
      sessionStorage.setItem("muster-token", state.token);
      q.set("incident", state.incident);
      history.replaceState(null, "", location.pathname + "?" + q.toString());
      poll();
    });
    if (state.incident && state.token) poll();
  }
  start();
})();
