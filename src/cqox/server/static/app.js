// CQOx dashboard: vanilla JavaScript, no network access beyond this service.
// Every value from the server is written with textContent (never innerHTML): column
// names and file names are user data.
"use strict";

const state = { token: sessionStorage.getItem("cqox_token"), refresh: sessionStorage.getItem("cqox_refresh") };
const $ = (sel) => document.querySelector(sel);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function num(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toPrecision(digits);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 && state.refresh && !options.retried) {
    if (await refreshTokens()) return api(path, Object.assign({}, options, { retried: true }));
  }
  if (response.status === 401) { showLogin(); }
  return response;
}

function errorLine(error) {
  // a NO_DESIGN error lists the roles to give: show them under the message
  let text = error.code + ": " + error.message;
  const suggestions = (error.details && error.details.suggestions) || [];
  for (const s of suggestions) {
    text += "\n• give " + s.role + (s.columns && s.columns.length ? " (e.g. " + s.columns.slice(0, 3).join(", ") + ")" : "") + ": " + s.reason;
  }
  return text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body.error) return errorLine(body.error);
  } catch (e) { /* not JSON */ }
  return "HTTP " + response.status;
}

async function refreshTokens() {
  const r = await fetch("/api/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: state.refresh }),
  });
  if (!r.ok) return false;
  saveTokens(await r.json());
  return true;
}

function saveTokens(tokens) {
  state.token = tokens.access_token;
  state.refresh = tokens.refresh_token;
  sessionStorage.setItem("cqox_token", state.token);
  sessionStorage.setItem("cqox_refresh", state.refresh);
}

function showLogin() {
  state.token = null; state.refresh = null;
  sessionStorage.removeItem("cqox_token"); sessionStorage.removeItem("cqox_refresh");
  $("#login-view").hidden = false; $("#app-view").hidden = true; $("#logout").hidden = true;
  $("#who").textContent = "";
}

async function showApp() {
  const me = await api("/api/auth/me");
  if (!me.ok) { showLogin(); return; }
  const user = await me.json();
  $("#who").textContent = user.username + " (" + user.role + ")";
  $("#login-view").hidden = true; $("#app-view").hidden = false; $("#logout").hidden = false;
  await Promise.all([loadDatasets(), loadAnalyses()]);
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const r = await fetch("/api/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
  });
  if (!r.ok) { $("#login-error").textContent = await errorText(r); return; }
  $("#login-error").textContent = "";
  saveTokens(await r.json());
  showApp();
});

$("#logout").addEventListener("click", async () => {
  await api("/api/auth/logout", { method: "POST", json: { refresh_token: state.refresh } });
  showLogin();
});

$("#upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const status = $("#upload-status");
  status.textContent = "uploading…";
  const r = await api("/api/upload", { method: "POST", body: new FormData(ev.target) });
  if (!r.ok) { status.textContent = await errorText(r); return; }
  const d = await r.json();
  status.textContent = "uploaded " + d.name + ": " + d.rows + " rows × " + d.columns +
    " columns (" + (d.encoding || d.format) + ")";
  ev.target.reset();
  await loadDatasets();
  chooseDataset(d);
});

function rolesText(roles) {
  return (roles.inferred || []).map((g) => g.role + ": " + g.column + " (" + num(g.confidence, 2) + ")").join("; ");
}

async function loadDatasets() {
  const r = await api("/api/datasets");
  if (!r.ok) return;
  const body = $("#datasets tbody");
  body.replaceChildren();
  for (const d of (await r.json()).datasets) {
    const tr = el("tr");
    tr.append(el("td", d.name), el("td", d.rows), el("td", d.columns), el("td", rolesText(d.roles), "l"),
      el("td", (d.domain && d.domain.domain) || "unknown", "l"));
    const cell = el("td");
    const pick = el("button", "analyse", "link");
    pick.addEventListener("click", () => chooseDataset(d));
    const del = el("button", "delete", "link");
    del.addEventListener("click", async () => {
      if (!confirm("Delete " + d.name + "?")) return;
      await api("/api/datasets/" + d.dataset_id, { method: "DELETE" });
      loadDatasets();
    });
    cell.append(pick, el("span", " · "), del);
    tr.append(cell);
    body.append(tr);
  }
}

function chooseDataset(d) {
  const form = $("#analyze-form");
  form.reset();
  form.dataset_id.value = d.dataset_id;
  const roles = (d.roles && d.roles.roles) || {};
  for (const role of ["outcome", "treatment", "unit", "time"]) form[role].value = roles[role] || "";
  const cov = roles.covariates;
  form.covariates.value = Array.isArray(cov) ? cov.join(", ") : (cov || "");
  $("#analyze-name").textContent = d.name;
  $("#analyze-panel").hidden = false;
}

$("#analyze-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const mapping = {};
  for (const role of ["outcome", "treatment", "unit", "time"]) {
    if (form[role].value.trim()) mapping[role] = form[role].value.trim();
  }
  const cov = form.covariates.value.trim();
  if (cov) mapping.covariates = /[+*:()~]/.test(cov) ? cov : cov.split(",").map((s) => s.trim()).filter(Boolean);
  const est = form.estimators.value.split(",").map((s) => s.trim()).filter(Boolean);
  const request = { dataset_id: form.dataset_id.value, mapping };
  if (est.length) request.estimators = est;
  if (form.enforce.checked) request.quality_gates = { enforce: true };
  $("#analyze-error").textContent = "";
  const progress = $("#progress");
  progress.hidden = false; progress.value = 0; $("#progress-step").textContent = "running…";
  let r = await api("/api/analyze/comprehensive", { method: "POST", json: request });
  if (r.status === 202) r = await pollJob((await r.json()).job_id);
  progress.hidden = true; $("#progress-step").textContent = "";
  if (!r.ok) { $("#analyze-error").textContent = await errorText(r); return; }
  const job = await r.json();
  showResult(job.analysis_id, job.result);
  loadAnalyses();
});

async function pollJob(jobId) {
  for (;;) {
    // 1.5 s between polls keeps a long job well inside the per-user rate limit
    await new Promise((res) => setTimeout(res, 1500));
    const r = await api("/api/jobs/" + jobId);
    if (!r.ok) return r;
    const job = await r.clone().json();
    $("#progress").value = job.progress;
    $("#progress-step").textContent = job.step;
    if (job.status === "succeeded") return r;
    if (job.status === "failed" || job.status === "cancelled") {
      $("#analyze-error").textContent = job.error ? errorLine(job.error) : job.status;
      return new Response(JSON.stringify({ error: job.error }), { status: 400 });
    }
  }
}

function showResult(analysisId, result) {
  $("#result-panel").hidden = false;
  $("#result-meta").textContent = "analysis " + analysisId + " · designs: " + (result.designs || []).join(", ") +
    " · " + num(result.elapsed_s, 3) + " s";
  const est = $("#estimates tbody");
  est.replaceChildren();
  const gates = $("#gates tbody");
  gates.replaceChildren();
  for (const e of result.estimates) {
    const tr = el("tr");
    tr.append(el("td", e.estimator), el("td", e.estimand, "l"), el("td", num(e.estimate)), el("td", num(e.se)),
      el("td", "[" + num(e.ci[0]) + ", " + num(e.ci[1]) + "]"), el("td", num(e.p_value, 3)), el("td", e.n),
      el("td", e.status, e.status));
    est.append(tr);
    for (const g of e.gates) {
      const row = el("tr");
      row.append(el("td", e.estimator + " " + e.estimand), el("td", g.name, "l"), el("td", num(g.value)),
        el("td", num(g.threshold)), el("td", g.status, g.status), el("td", g.message, "l"));
      gates.append(row);
    }
  }
  const cons = $("#consensus tbody");
  cons.replaceChildren();
  for (const [estimand, c] of Object.entries(result.consensus || {})) {
    const tr = el("tr");
    tr.append(el("td", estimand), el("td", num(c.estimate)), el("td", num(c.min) + " … " + num(c.max)),
      el("td", c.n_estimators), el("td", Math.round(100 * c.agreement) + "%"));
    cons.append(tr);
  }
  const q = result.quality || {};
  const verdict = $("#verdict");
  verdict.replaceChildren(el("span", "verdict: "), el("span", String(q.verdict).replace("_", " "), q.verdict),
    el("span", " " + JSON.stringify(q.counts || {})));
  $("#open-report").onclick = () => openReport(analysisId);
  drawFigures(analysisId);
}

async function drawFigures(analysisId) {
  const box = $("#figures");
  box.replaceChildren();
  const r = await api("/api/analyses/" + analysisId + "/figures");
  if (!r.ok) return;
  for (const f of (await r.json()).figures) {
    box.append(el("h4", f.title || f.name));
    const div = el("div", null, "figure");
    box.append(div, el("p", f.caption || "", "muted"));
    const fig = await (await api(f.json)).json();
    if (window.Plotly) {
      window.Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
    } else {
      const img = el("img");
      img.alt = f.name;
      const png = await api(f.png);
      img.src = URL.createObjectURL(await png.blob());
      div.append(img);
    }
  }
}

async function openReport(analysisId) {
  const r = await api("/api/analyses/" + analysisId + "/report");
  if (!r.ok) { alert(await errorText(r)); return; }
  const url = URL.createObjectURL(new Blob([await r.text()], { type: "text/html" }));
  window.open(url, "_blank", "noopener");
}

async function loadAnalyses() {
  const r = await api("/api/analyses?limit=20");
  if (!r.ok) return;
  const body = $("#analyses tbody");
  body.replaceChildren();
  for (const a of (await r.json()).analyses) {
    const tr = el("tr");
    const open = el("button", "show", "link");
    open.addEventListener("click", async () => {
      const d = await (await api("/api/analyses/" + a.analysis_id)).json();
      showResult(a.analysis_id, d.result);
    });
    const cell = el("td");
    cell.append(open);
    tr.append(el("td", (a.created_at || "").replace("T", " ").slice(0, 19)), el("td", a.kind, "l"),
      el("td", a.estimates), el("td", a.verdict, a.verdict), cell);
    body.append(tr);
  }
}

if (state.token) showApp(); else showLogin();
