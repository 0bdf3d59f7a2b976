/* rtad live page: polls /v1/stats, listens to /v1/alerts/stream (SSE), draws with uPlot.
   Plain JavaScript, no build step. Paths are relative so the page works behind a prefix. */
"use strict";

(() => {
  const POLL_MS = 2000;
  const WINDOW_S = 300; // the charts show the last five minutes
  const MAX_ALERTS = 12;
  const COLORS = { tx: "#2f6fde", features: "#e07b24", scored: "#1f9d66", alert: "#d63a3a" };

  const $ = (id) => document.getElementById(id);
  const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const dec = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const dec2 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 });

  // ---------------------------------------------------------------- stats → one plain shape
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

  /** The figures the page shows, from the scorer's /v1/stats document. */
  function readStats(raw) {
    const totals = raw.totals || {};
    const stages = raw.throughput || {};
    const latency = raw.latency_ms || {};
    const model = raw.model || {};
    const stage = (name) => stages[name] || {};
    return {
      at: num(raw.generated_at) ?? Date.now() / 1000,
      model: model.version ? `${model.version}${model.detector ? ` · ${model.detector}` : ""}` : null,
      totals: {
        tx: num(stage("tx").entries_added),
        features: num(stage("features").entries_added),
        scored: num(totals.scored),
        anomalies: num(totals.anomalies),
      },
      rates: {
        tx: num(stage("tx").per_s),
        features: num(stage("features").per_s),
        scored: num(stage("scores").per_s),
      },
      p50: num(latency.p50),
      p99: num(latency.p99),
      lag: num(raw.consumer?.lag),
      series: readSeries(raw.series || {}, num(raw.generated_at) ?? Date.now() / 1000),
      scenarios: readScenarios(raw.scenarios || []),
    };
  }

  /** Complete 5-second buckets of the server's series: time, p99 latency, share flagged. */
  function readSeries(series, now) {
    const width = series.bucket_s || 5;
    const points = (series.points || []).filter((p) => p.t + width <= now && p.t >= now - WINDOW_S);
    return {
      t: points.map((p) => p.t),
      p99: points.map((p) => num(p.p99_ms)),
      anomalyPct: points.map((p) => (p.scored ? (100 * p.anomalies) / p.scored : null)),
    };
  }

  function readScenarios(rows) {
    return rows
      .map((r) => ({ name: r.scenario, count: r.count || 0, detected: r.detected || 0 }))
      .filter((r) => r.name && r.count > 0)
      .sort((a, b) => (a.name === "genuine") - (b.name === "genuine") || b.count - a.count);
  }

  // ---------------------------------------------------------------- throughput history
  // Sampled here every poll (the server keeps no per-stage series); the window slides.
  const history = { t: [], tx: [], features: [], scored: [] };

  function record(stats) {
    if (stats.rates.scored === null && stats.rates.tx === null) return;
    history.t.push(stats.at);
    history.tx.push(stats.rates.tx);
    history.features.push(stats.rates.features);
    history.scored.push(stats.rates.scored);
    while (history.t.length && history.t[0] < stats.at - WINDOW_S) {
      for (const series of Object.values(history)) series.shift();
    }
  }

  // ---------------------------------------------------------------- rendering
  const show = (id, text) => {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  };
  const fmtInt = (v) => (v === null ? "–" : int.format(v));
  const secs = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const duration = (ms) => (ms >= 1000 ? `${secs.format(ms / 1000)} s` : `${int.format(ms)} ms`);
  const clock = (date) => date.toLocaleTimeString([], { hour12: false });

  function renderFigures(stats) {
    const { totals, rates } = stats;
    show("model", stats.model ? `model ${stats.model}` : "model —");
    show("kpi-tx-rate", fmtInt(rates.tx));
    show("kpi-tx-total", fmtInt(totals.tx));
    show("kpi-features-rate", fmtInt(rates.features));
    show("kpi-features-total", fmtInt(totals.features));
    show("kpi-scored-rate", fmtInt(rates.scored));
    show("kpi-scored-total", fmtInt(totals.scored));
    show("kpi-anomalies-total", fmtInt(totals.anomalies));
    const share = totals.scored ? (100 * (totals.anomalies || 0)) / totals.scored : null;
    show("kpi-anomaly-rate", share === null ? "–" : dec2.format(share));
    // Milliseconds while small, seconds once a backlog makes them large.
    const inSeconds = stats.p99 !== null && stats.p99 >= 10000;
    const p99 = inSeconds ? dec.format(stats.p99 / 1000) : fmtInt(stats.p99);
    show("kpi-latency-p99", stats.p99 === null ? "–" : p99);
    show("kpi-latency-unit", inSeconds ? "s" : "ms");
    show("kpi-latency-p50", stats.p50 === null ? "–" : duration(stats.p50));
    show("kpi-lag", fmtInt(stats.lag));
    show("updated", `updated ${clock(new Date())}`);
  }

  /** Recall per fraud scenario; the genuine row's share flagged is the false-alarm rate. */
  function renderScenarios(rows) {
    if (!rows.length) return;
    $("scenarios").replaceChildren(
      ...rows.map((r) => {
        const share = r.count ? r.detected / r.count : 0;
        const genuine = r.name === "genuine";
        const tr = document.createElement("tr");
        tr.className = genuine ? "scenario genuine" : "scenario";
        const name = genuine ? "genuine (false alarms)" : r.name.replaceAll("_", " ");
        tr.innerHTML =
          `<td>${escapeHtml(name)}</td>` +
          `<td class="num">${int.format(r.count)}</td><td class="num">${int.format(r.detected)}</td>` +
          `<td><div class="meter"><div class="bar"><span style="width:${(100 * share).toFixed(1)}%">` +
          `</span></div><em>${dec.format(100 * share)} %</em></div></td>`;
        return tr;
      }),
    );
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function setStatus(kind, text) {
    const el = $("status");
    el.className = `status status-${kind}`;
    el.textContent = text;
  }

  // ---------------------------------------------------------------- charts (uPlot)
  function makeChart(el, series, axes) {
    const opts = {
      width: el.clientWidth,
      height: 240,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: Object.fromEntries([
        ["x", { time: true }],
        ...axes.map((a) => [a.scale, { range: fromZero }]),
      ]),
      series: [{}, ...series],
      axes: [
        {
          stroke: "#6b7385",
          grid: { stroke: "#eef1f6" },
          space: 70,
          values: (u, ticks) => ticks.map((t) => clock(new Date(t * 1000))),
        },
        ...axes,
      ],
    };
    const chart = new uPlot(opts, [[], ...series.map(() => [])], el);
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: 240 })).observe(el);
    return chart;
  }

  // Rates and latencies read best from zero: a flat line must not look like a storm.
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.15 : 1];
  const line = (label, stroke, scale = "y", dash = undefined) => ({
    label, stroke, scale, dash, width: 2, spanGaps: true, points: { show: false },
  });
  const axis = (scale, side, unit) => ({
    scale, side, stroke: "#6b7385", size: 60, grid: { show: side === 3, stroke: "#eef1f6" },
    values: (u, ticks) => ticks.map((v) => `${int.format(v)}${unit}`),
  });

  const throughput = makeChart(
    $("chart-throughput"),
    [
      line("generated /s", COLORS.tx),
      line("features /s", COLORS.features, "y", [6, 4]),
      line("scored /s", COLORS.scored),
    ],
    [axis("y", 3, "")],
  );
  const latency = makeChart(
    $("chart-latency"),
    [line("p99 latency (ms)", COLORS.tx, "ms"), line("anomaly rate (%)", COLORS.alert, "pct")],
    [
      { ...axis("ms", 3, ""), values: (u, ticks) => ticks.map(duration) },
      { ...axis("pct", 1, ""), values: (u, ticks) => ticks.map((v) => `${dec.format(v)} %`) },
    ],
  );

  function renderCharts(series) {
    throughput.setData([history.t, history.tx, history.features, history.scored]);
    latency.setData([series.t, series.p99, series.anomalyPct]);
  }

  // ---------------------------------------------------------------- alerts (Server-Sent Events)
  const scenarioName = (name) => (name || "fraud").replaceAll("_", " ");

  function alertRow(alert) {
    const tr = document.createElement("tr");
    tr.className = "alert fresh";
    const when = new Date(alert.scored_ms || alert.ingest_ms || Date.now());
    const reasons = (alert.reasons || [])
      .map((r) => `<li><code>${escapeHtml(r.code)}</code>${escapeHtml(r.text)}</li>`)
      .join("");
    const label =
      alert.is_fraud === undefined || alert.is_fraud === null
        ? `<span class="tag tag-none">unlabelled</span>`
        : alert.is_fraud
          ? `<span class="tag tag-fraud">${escapeHtml(scenarioName(alert.fraud_scenario))}</span>`
          : `<span class="tag tag-genuine">genuine</span>`;
    const amount = typeof alert.amount === "number" ? dec2.format(alert.amount) : "–";
    tr.innerHTML =
      `<td class="time">${clock(when)}</td>` +
      `<td class="card">${escapeHtml(alert.user_id)}</td>` +
      `<td class="num">${amount}${alert.currency ? ` ${escapeHtml(alert.currency)}` : ""}</td>` +
      `<td>${escapeHtml(alert.merchant_id || "–")}</td>` +
      `<td class="num score">${dec2.format(alert.score)}</td>` +
      `<td><ul class="reasons">${reasons}</ul></td><td>${label}</td>`;
    return tr;
  }

  const shown = new Set(); // cursors of the alerts on the page: the feed and the page overlap

  function addAlert(alert, where = "top") {
    if (alert.cursor && shown.has(alert.cursor)) return;
    shown.add(alert.cursor);
    const body = $("alerts");
    body.querySelector("tr.empty")?.remove();
    const row = alertRow(alert);
    row.dataset.cursor = alert.cursor || "";
    if (where === "top") body.prepend(row);
    else body.append(row);
    while (body.children.length > MAX_ALERTS) {
      shown.delete(body.lastElementChild.dataset.cursor);
      body.lastElementChild.remove();
    }
  }

  /** The latest alerts at once (newest first), then the live feed. */
  async function listenForAlerts() {
    try {
      const response = await fetch(`v1/alerts?limit=${MAX_ALERTS}`, { cache: "no-store" });
      if (response.ok) for (const alert of (await response.json()).alerts) addAlert(alert, "end");
    } catch (err) {
      console.warn("recent alerts", err);
    }
    const source = new EventSource("v1/alerts/stream");
    const onAlert = (event) => {
      try {
        const data = JSON.parse(event.data);
        for (const alert of Array.isArray(data) ? data : [data]) addAlert(alert);
      } catch (err) {
        console.warn("unreadable alert event", err);
      }
    };
    source.addEventListener("message", onAlert);
    source.addEventListener("alert", onAlert);
    source.onopen = () => show("alerts-hint", "live");
    source.onerror = () => show("alerts-hint", "reconnecting…");
  }

  // ---------------------------------------------------------------- main loop
  async function poll() {
    try {
      const response = await fetch("v1/stats", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const stats = readStats(await response.json());
      record(stats);
      renderFigures(stats);
      renderScenarios(stats.scenarios);
      renderCharts(stats.series);
      setStatus("ok", "live");
    } catch (err) {
      setStatus("down", "scorer unreachable");
      console.warn("stats", err);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // Read by the end-to-end test: how many points the charts hold.
  window.rtadLive = { points: () => history.t.length };
  listenForAlerts();
  poll();
})();
