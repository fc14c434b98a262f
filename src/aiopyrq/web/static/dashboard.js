// aiopyrq dashboard: refreshes the page's counts, consumers and charts from its JSON.
"use strict";
(function () {
  const body = document.body;
  const api = body.dataset.api;
  const every = Math.max(1, Number(body.dataset.refresh || 5)) * 1000;
  const status = document.getElementById("status");
  const SVG = "http://www.w3.org/2000/svg";
  const CHARTS = {
    throughput: [["delivered", "#0969da"], ["acked", "#1a7f37"]],
    failures: [["failed", "#bf8700"], ["dead", "#cf222e"]],
    backlog: [["waiting", "#8250df"]],
  };

  function count(value) {
    return value === null || value === undefined ? "\u2013" : Number(value).toLocaleString("en-US");
  }

  function setCell(cell, value) {
    cell.textContent = count(value);
    cell.classList.toggle("zero", value === 0 || value === null);
    cell.classList.toggle("alert", cell.dataset.field === "dead" && value > 0);
  }

  function element(tag, attrs, text) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function overview(data) {
    const rows = new Map(data.rows.map((row) => [row.name, row]));
    const shown = document.querySelectorAll("#structures tbody tr[data-name]");
    shown.forEach((tr) => {
      const row = rows.get(tr.dataset.name);
      if (row) tr.querySelectorAll("[data-field]").forEach((td) => setCell(td, row[td.dataset.field]));
    });
    const changed = shown.length !== rows.size || [...shown].some((tr) => !rows.has(tr.dataset.name));
    document.getElementById("changed").hidden = !changed;
  }

  function consumers(holders) {
    const table = document.getElementById("consumers");
    if (!table) return;
    const sharded = table.dataset.sharded === "yes";
    const tbody = table.tBodies[0];
    tbody.replaceChildren();
    if (!holders.length) {
      const td = element("td", { colspan: sharded ? 5 : 4, class: "empty" }, "No consumer holds a lease.");
      tbody.append(element("tr", {}, undefined));
      tbody.lastChild.append(td);
      return;
    }
    for (const c of holders) {
      const tr = element("tr");
      tr.append(element("td", { class: "mono" }, c.id));
      if (sharded) tr.append(element("td", { class: "num" }, c.shard));
      tr.append(element("td", { class: "num" }, count(c.items)));
      tr.append(element("td", { class: "num" }, c.lease));
      const held = element("td", { class: "items" });
      c.held.forEach((item) => held.append(element("code", {}, item)));
      tr.append(held);
      tbody.append(tr);
    }
  }

  // The top of a chart's scale: 2, 4, 6 or 10 times a power of ten, so that its middle
  // line falls on a whole number.
  function nice(value) {
    for (let power = 1; ; power *= 10) {
      for (const step of [2, 4, 6, 10]) if (step * power >= value) return step * power;
    }
  }

  function chart(figure, history) {
    const series = CHARTS[figure.dataset.chart];
    const svg = figure.querySelector("svg");
    const [width, height, left, top, bottom] = [320, 130, 34, 8, 18];
    const plotW = width - left - 6;
    const plotH = height - top - bottom;
    const values = series.map(([key]) => history.map((minute) => minute[key]));
    // A minute no script wrote has no backlog size: the last one known stands until then.
    values.forEach((list, s) => {
      if (series[s][0] !== "waiting") return;
      list.forEach((v, i) => { if ((v === null || v === undefined) && i > 0) list[i] = list[i - 1]; });
    });
    const known = values.flat().filter((v) => v !== null && v !== undefined);
    const max = nice(Math.max(0, ...known));
    const x = (i) => left + (history.length > 1 ? (i * plotW) / (history.length - 1) : plotW);
    const y = (v) => top + plotH - (v * plotH) / max;
    svg.replaceChildren();
    for (const level of [0, max / 2, max]) {
      svg.append(element("svg:line", { class: "axis", x1: left, x2: width - 6, y1: y(level), y2: y(level) }));
      const label = level >= 1000 ? `${(level / 1000).toFixed(1)}k` : `${Math.round(level)}`;
      svg.append(element("svg:text", { class: "tick", x: left - 4, y: y(level) + 3, "text-anchor": "end" }, label));
    }
    const minutes = history.length;
    const ticks = [[0, `-${minutes - 1} min`], [Math.floor((minutes - 1) / 2), `-${Math.ceil((minutes - 1) / 2)} min`], [minutes - 1, "now"]];
    for (const [i, text] of ticks) {
      const anchor = i === 0 ? "start" : i === minutes - 1 ? "end" : "middle";
      svg.append(element("svg:text", { class: "tick", x: x(i), y: height - 4, "text-anchor": anchor }, text));
    }
    series.forEach(([key, color], s) => {
      const points = values[s].map((v, i) => (v === null || v === undefined ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`));
      const line = element("svg:polyline", { points: points.filter(Boolean).join(" "), stroke: color, "data-series": key });
      if (s > 0) line.setAttribute("stroke-dasharray", "4 3"); // visible where the lines meet
      line.dataset.values = values[s].map((v) => (v === null ? "" : v)).join(",");
      svg.append(line);
      const last = values[s].length - 1;
      if (values[s][last] !== null && values[s][last] !== undefined) {
        svg.append(element("svg:circle", { cx: x(last), cy: y(values[s][last]), r: 2.2, fill: color }));
      }
    });
    const legend = figure.querySelector(".legend");
    legend.replaceChildren();
    series.forEach(([key, color], s) => {
      // A count of items: the hour's total; the backlog: its last known size.
      const known = values[s].filter((v) => v !== null && v !== undefined);
      const shown = key === "waiting" ? (known.length ? known[known.length - 1] : null) : known.reduce((a, b) => a + b, 0);
      const entry = element("span", { "data-series": key });
      const swatch = element("i");
      swatch.style.background = color;
      entry.append(swatch, `${key} `, element("b", {}, count(shown)), key === "waiting" ? " now" : " in the hour");
      legend.append(entry);
    });
  }

  function structure(data) {
    document.querySelectorAll("#counts [data-field]").forEach((td) => setCell(td, data[td.dataset.field]));
    consumers(data.holders);
    document.querySelectorAll("figure.chart").forEach((f) => chart(f, data.history));
  }

  async function refresh() {
    const started = performance.now();
    try {
      const response = await fetch(api, { headers: { accept: "application/json" }, cache: "no-store" });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
      (body.dataset.page === "overview" ? overview : structure)(data);
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
      status.classList.remove("stale");
      body.dataset.refreshed = String(Number(body.dataset.refreshed || 0) + 1);
    } catch (error) {
      status.textContent = `not updated: ${error.message}`;
      status.classList.add("stale");
    }
    // A page slow to read (many structures) is read less often: at most a fifth of the time.
    setTimeout(refresh, Math.max(every, 5 * (performance.now() - started)));
  }

  if (api) {
    // The overview comes with fresh counts; a structure's page fetches its charts at once.
    setTimeout(refresh, body.dataset.page === "overview" ? every : 0);
  }
})();
