// The live page's alert-quality panel: GET v1/quality every few seconds (rtad.scorer.quality).
(() => {
  "use strict";
  const POLL_MS = 10000;
  const pct = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });
  const int = new Intl.NumberFormat("en");
  const $ = (id) => document.getElementById(id);

  const share = (v) => (v === null || v === undefined ? "–" : pct.format(v));
  const count = (v) => (v === null || v === undefined ? "–" : int.format(v));
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 120) return `${seconds.toFixed(0)} s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  /** One row a figure; a column a model role. */
  function rows(body) {
    const k = body.k;
    const figures = [
      ["alert precision", (m) => share(m.precision)],
      [`card precision@${k} (mean of days)`, (m) => share(m.card_precision_mean)],
      ["recall on reported frauds", (m) => share(m.recall)],
      ["detection delay (median)", (m) => duration(m.delay_median_s)],
      ["alerts with a verdict", (m) => count(m.reviewed_alerts)],
    ];
    const champion = body.models.champion;
    const challenger = body.models.challenger;
    return figures.map(([name, of]) => {
      const tr = document.createElement("tr");
      const cells = [name, of(champion), challenger ? of(challenger) : "none loaded"];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i > 0) td.className = "num";
        tr.append(td);
      });
      return tr;
    });
  }

  function render(body) {
    const v = body.verdicts;
    $("quality-verdicts").textContent =
      `${int.format(v.total)} verdicts: ${int.format(v.fraud)} fraud, ${int.format(v.genuine)} genuine, ` +
      `${int.format(v.held)} waiting for their transaction, ${int.format(v.not_alerted)} on transactions not alerted` +
      (body.alert_budget ? ` · alert threshold: ${body.alert_budget.mode === "budget"
        ? `budget of ${int.format(body.alert_budget.per_hour)} alerts/h` : "the model's fixed one"}` : "");
    if (!v.total) return;
    $("quality").replaceChildren(...rows(body));
  }

  async function poll() {
    try {
      const response = await fetch("v1/quality", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
      $("quality-hint").textContent = "analysts' verdicts and chargebacks";
    } catch (err) {
      $("quality-hint").textContent = "unavailable";
      console.warn("quality", err);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
