// The leaderboard page's behaviour. All numbers come aggregated from Python (bench/leaderboard/data.py);
// this script only filters, sorts (DataTables), and draws (plotly.js). Both libraries are embedded.
(async () => {
  performance.mark('lb-start');
  const D = JSON.parse(document.getElementById('lb-data').textContent);
  performance.mark('lb-data-parsed');
  const { jQuery: $ } = await window[LB_TABLES_PROMISE];  // set by page.py: itables' offline loader
  performance.mark('lb-tables-loaded');
  const GROUP = ['backbone', 'label_budget', 'precision', 'protocol'];
  const FILTERS = { rule: 'f-rule', backbone: 'f-backbone', label_budget: 'f-budget', pair: 'f-pair',
                    precision: 'f-precision', protocol: 'f-protocol' };
  const ALL = '(all)';
  const el = id => document.getElementById(id);
  const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  // DataTables writes a column's display value as HTML: every value from a suite or a row goes
  // through esc (a backbone label is data, never markup); sorting and filtering see the raw value
  const txt = (d, t) => t === 'display' ? esc(d) : d;
  const col = (title, data) => ({ title, data, render: txt });
  const f = (v, d = 1) => v === null || v === undefined ? '-' : Number(v).toFixed(d);
  const big = v => v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US');
  const ci = (m, lo, hi, d = 1) => m === null || m === undefined ? '-' : f(m, d) + (lo === null || lo === undefined ? '' : ` [${f(lo, d)}, ${f(hi, d)}]`);
  // sort value of a missing number: always last when sorting descending
  const num = (v, type, show) => type === 'display' || type === 'filter' ? show : (v === null || v === undefined ? -Infinity : v);

  // ---- filters: one select per identity column, filled from the data -------------------------
  const distinct = key => [...new Set(D.cells.map(r => r[key]))].sort();
  const fill = (id, values, withAll) => {
    el(id).innerHTML = (withAll ? [ALL] : []).concat(values).map(v => `<option>${esc(v)}</option>`).join('');
  };
  fill('f-rule', Object.keys(D.rules), false);
  for (const [key, id] of Object.entries(FILTERS)) if (key !== 'rule') fill(id, distinct(key), true);
  // open on one ranking (the first backbone and budget); '(all)' is one click away
  if (D.groups.length) GROUP.forEach((k, i) => { if (k === 'backbone' || k === 'label_budget') el(FILTERS[k]).value = D.groups[0].split('|')[i]; });
  const state = () => Object.fromEntries(Object.entries(FILTERS).map(([k, id]) => [k, el(id).value]));
  const matches = (row, s, skipPair) => Object.keys(FILTERS).every(k =>
    (skipPair && k === 'pair') || !(k in row) || s[k] === ALL || String(row[k]) === s[k]);

  // ---- tables (DataTables) --------------------------------------------------------------------
  const published = {};
  for (const r of D.references) published[[r.backbone, r.label_budget, r.precision, r.protocol, r.method].join('|')] = r.published;
  for (const r of D.ranking) r.published = published[[...GROUP.map(k => r[k]), r.method].join('|')] ?? null;
  const kind = D.aggregate_kind;
  const ranking = $('#ranking').DataTable({
    data: D.ranking, deferRender: true, paging: false, order: [[0, 'asc'], [1, 'asc'], [4, 'desc']], autoWidth: false,
    columns: [
      col('backbone', 'backbone'), col('budget', 'label_budget'),
      col('precision', 'precision'), col('method', 'method'),
      { title: 'avg rank', data: 'rank', render: (d, t, r) => num(d === null ? null : -d, t,
          r.note ? esc(r.note) : f(d, 2) + (r.rank_lo === null || r.rank_lo === undefined ? '' : ` [${f(r.rank_lo, 2)}, ${f(r.rank_hi, 2)}]`)),
        className: 'dt-right' },
      { title: `${kind} over pairs [95% CI]`, data: 'agg', render: (d, t, r) => num(d, t, ci(d, r.agg_lo, r.agg_hi)), className: 'dt-right' },
      { title: 'P(better than source_only)', data: 'p_improve', render: (d, t) => num(d, t, f(d, 2)), className: 'dt-right',
        visible: D.ranking.some(r => r.p_improve !== null && r.p_improve !== undefined) },
      { title: 'pairs', data: 'pairs', render: (d, t, r) => t === 'display' ? `${esc(d)}/${esc(r.of_pairs)}` : d, className: 'dt-right' },
      { title: 'published', data: 'published', render: (d, t) => num(d, t, d === null ? '' : `${f(d)} <span class="pub">published</span>`), className: 'dt-right' },
    ],
    createdRow: (tr, r) => { if (r.best) tr.classList.add('best'); },
  });
  // avg rank sorts on -rank: descending puts rank 1 first and methods without a rank last

  const cells = $('#cells').DataTable({
    data: D.cells, deferRender: true, pageLength: 25, order: [[6, 'desc']], autoWidth: false,
    columns: [
      col('backbone', 'backbone'), col('budget', 'label_budget'),
      col('precision', 'precision'), col('protocol', 'protocol'),
      col('method', 'method'), col('pair', 'pair'),
      { title: 'target acc [95% CI] n', data: 'acc', className: 'dt-right acc',
        render: (d, t, r) => num(d, t, d === null ? esc(r.status) : `${ci(d, r.acc_lo, r.acc_hi)} n=${r.n}`) },
      { title: 'forgetting', data: 'forgetting', render: (d, t) => num(d, t, f(d)), className: 'dt-right' },
      { title: 'gain', data: 'gain', render: (d, t) => num(d, t, f(d)), className: 'dt-right' },
      { title: 'trainable params', data: 'params', render: (d, t) => num(d, t, big(d)), className: 'dt-right' },
      { title: 'memory (MiB)', data: 'mem', render: (d, t) => num(d, t, big(d)), className: 'dt-right' },
      { title: 'train samples/s', data: 'sps', render: (d, t) => num(d, t, big(d)), className: 'dt-right' },
      col('status', 'status'),
    ],
    createdRow: (tr, r) => { tr.dataset.id = r.id; if (r.best) tr.classList.add('best'); },
  });

  const regressions = $('#regressions').DataTable({
    data: D.regressions.map(r => ({ ...r, ...Object.fromEntries(r.id.split('|').map((v, i) => [[...GROUP, 'method', 'pair'][i], v])) })),
    deferRender: true, pageLength: 10, order: [[0, 'desc']], autoWidth: false,
    columns: [
      { title: 'snapshot', data: 'snapshot', render: (d, t) => t === 'display' ? esc(D.snapshots[d].name) : d },
      col('backbone', 'backbone'), col('budget', 'label_budget'),
      col('method', 'method'), col('pair', 'pair'), col('metric', 'metric'),
      { title: 'delta [95% CI]', data: 'delta', className: 'dt-right',
        render: (d, t, r) => num(d, t, d === null ? esc(r.note) : ci(d, r.lo, r.hi, 2) + ' ' + esc(r.unit || '')) },
      { title: 'verdict', data: 'verdict', render: d => d === 'REGRESSION' ? `<b class="bad">${d}</b>` : esc(d) },
    ],
  });

  const moves = $('#rank-moves').DataTable({
    data: D.rank_moves, deferRender: true, pageLength: 10, order: [[7, 'asc'], [0, 'desc']], autoWidth: false,
    columns: [
      col('snapshot', 'snapshot'), col('backbone', 'backbone'), col('budget', 'label_budget'),
      col('pair', 'pair'), col('method', 'method'), col('overtook', 'overtook'),
      { title: 'lead before -> now', data: 'lead_now', className: 'dt-right',
        render: (d, t, r) => num(d, t, `${f(r.lead_before, 2)} -> ${f(d, 2)} (noise ${f(r.noise, 2)})`) },
      { title: 'verdict', data: 'beyond_noise',
        render: (d, t) => t === 'sort' ? (d === true ? 0 : 1) : d === true ? '<b>beyond noise</b>' : d === false ? 'within noise' : 'unknown (one seed)' },
    ],
  });

  $.fn.dataTable.ext.search.push((settings, _data, _i, row) => {
    const s = state();
    if (settings.nTable.id === 'regressions' || settings.nTable.id === 'rank-moves') return matches(row, s);
    return matches(row, s, settings.nTable.id === 'ranking');
  });

  // ---- drill-down ------------------------------------------------------------------------------
  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
  const plain = (id, rows, cols) => {
    el(id).innerHTML = '<thead><tr>' + cols.map(c => `<th>${esc(c)}</th>`).join('') + '</tr></thead><tbody>' +
      rows.map(r => '<tr>' + cols.map(c => `<td>${esc(typeof r[c] === 'number' ? +r[c].toFixed(2) : r[c])}</td>`).join('') + '</tr>').join('') + '</tbody>';
  };
  function drill(id) {
    const d = D.drill[id];
    if (!d) return;
    el('drill').dataset.id = id;
    const rule = state().rule;
    el('drill').hidden = false;
    el('drill-title').textContent = id.split('|').join(' · ');
    el('drill-rule').textContent = 'rule ' + rule;
    plain('drill-seeds', d.seeds[rule] || [], ['seed', 'target_acc', 'forgetting', 'target_gain', 'selected_trial', 'selected_step', 'status', 'run_id', 'reproduce']);  // reproduce: the command that reruns the number
    el('drill-hparams').textContent = d.hparams.join('\n') || '{}';
    plain('drill-trials', d.trials, ['trial', 'seed', 'hparams', 'target_acc', 'status']);  // every trial, newest snapshot
    const p = d.provenance;
    el('drill-prov').innerHTML = [['commit', p.commit], ['device', p.device], ['host', p.host], ['run', p.run],
      ['snapshot', p.snapshot], ['started', p.started],
      ['packages', Object.entries(p.packages).map(([k, v]) => `${k} ${v}`)]]
      .map(([k, v]) => `<dt>${k}</dt><dd>${esc((v || []).join(', ') || '-')}</dd>`).join('');
    // the curves of the trials this rule selected (all trials when none of them has checkpoints)
    const seeds = d.seeds[rule] || [];
    const picked = seeds.filter(s => d.curves[s.cell_key]);
    const keys = picked.length ? picked.map(s => s.cell_key) : Object.keys(d.curves);
    const traces = [];
    keys.forEach((key, i) => {
      const c = d.curves[key];
      for (const [col, dash] of [['target_acc', 'solid'], ['source_acc', 'dot']]) {
        if (c[col]) traces.push({ x: c.step, y: c[col], mode: 'lines+markers', name: esc(`${col} seed ${c.seed} trial ${c.trial ?? 0}`),
                                  line: { color: COLORS[i % COLORS.length], dash } });
      }
      const s = picked.find(p => p.cell_key === key);
      const at = s && c.target_acc ? c.step.indexOf(s.selected_step) : -1;
      if (at >= 0) traces.push({ x: [s.selected_step], y: [c.target_acc[at]], mode: 'markers', showlegend: false,
                                 marker: { size: 14, symbol: 'star', color: COLORS[i % COLORS.length] }, hoverinfo: 'text',
                                 text: [esc(`selected by ${rule}: seed ${c.seed}, trial ${c.trial ?? 0}, step ${s.selected_step}`)] });
    });
    Plotly.react('drill-curves', traces, { height: 300, margin: { t: 10, r: 10 }, xaxis: { title: 'step' },
      yaxis: { title: 'accuracy (%)' }, annotations: traces.length ? [] : [{ text: 'no checkpoints recorded for this cell', showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5 }] });
    historyPlot('drill-history', id);
    historyPlot('history-plot', id);
  }
  function historyPlot(target, id) {
    const rule = state().rule;
    const series = (D.history[rule] || {})[id] || [];
    const flags = D.regressions.filter(r => r.id === id && r.rule === rule && r.metric !== 'status');
    const name = i => esc(D.snapshots[i].name.split('/').pop());  // plotly reads its text as HTML-ish markup
    const traces = [{ x: series.map(p => name(p[0])), y: series.map(p => p[1]), mode: 'lines+markers', name: 'target acc (seed mean)',
                      text: series.map(p => `n=${p[2]}`) }];
    const acc = flags.filter(r => r.metric === 'target_acc');
    if (acc.length) traces.push({ x: acc.map(r => name(r.snapshot)), y: acc.map(r => (series.find(p => p[0] === r.snapshot) || [])[1]),
      mode: 'markers', name: 'flagged by compare', marker: { size: 14, symbol: 'x', color: acc.map(r => r.verdict === 'REGRESSION' ? '#d62728' : '#2ca02c') },
      text: acc.map(r => `${r.verdict} ${r.delta} [${r.lo}, ${r.hi}]`) });
    Plotly.react(target, traces, { height: 280, margin: { t: 30, r: 10 }, title: { text: esc(id.split('|').slice(-2).join(' @ ')), font: { size: 13 } },
      yaxis: { title: 'target acc (%)' }, showlegend: true });
  }
  $('#cells tbody').on('click', 'tr', function () { const r = cells.row(this).data(); if (r) drill(r.id); });
  $('#regressions tbody').on('click', 'tr', function () { const r = regressions.row(this).data(); if (r) drill(r.id); });

  // ---- Pareto view -----------------------------------------------------------------------------
  const COSTS = { mem: ['peak memory (MiB)', true], params: ['trainable parameters', true], sps: ['train throughput (samples/s)', false] };
  el('pareto-cost').innerHTML = Object.entries(COSTS).map(([k, [label]]) => `<option value="${k}">${label}</option>`).join('');
  function pareto() {
    const s = state();
    const group = D.groups.find(g => GROUP.every((k, i) => s[k] === ALL || g.split('|')[i] === s[k]));
    el('pareto-group').textContent = group ? `${group.split('|').join(' · ')} (rule ${s.rule})` : 'nothing (no group matches the filters)';
    const cost = el('pareto-cost').value;
    const pts = ((group && D.pareto[`${s.rule}|${group}`]) || []).filter(p => p[cost] !== undefined && p[cost] !== null);
    const front = pts.filter(p => p[cost + '_front']).sort((a, b) => a[cost] - b[cost]);
    Plotly.react('pareto', [
      { x: pts.map(p => p[cost]), y: pts.map(p => p.acc), text: pts.map(p => esc(p.method)), mode: 'markers+text', textposition: 'top center',
        name: 'methods', marker: { size: 11 }, hovertemplate: '%{text}<br>cost %{x:,.1f}<br>acc %{y:.1f}<extra></extra>' },
      { x: front.map(p => p[cost]), y: front.map(p => p.acc), mode: 'lines+markers', name: 'Pareto front',
        line: { dash: 'dash', color: '#333' }, marker: { size: 18, symbol: 'circle-open', color: '#333' }, hoverinfo: 'skip' },
    ], { height: 420, margin: { t: 10 }, xaxis: { title: COSTS[cost][0] + (COSTS[cost][1] ? ' (better: left)' : ' (better: right)'),
         type: cost === 'params' ? 'log' : 'linear' }, yaxis: { title: 'target acc (%)' } });
  }

  // ---- critical differences (Friedman + Nemenyi, computed in Python as bench report does) ------
  function cdView() {
    const s = state();
    const group = D.groups.find(g => GROUP.every((k, i) => s[k] === ALL || g.split('|')[i] === s[k]));
    el('cd-group').textContent = group ? `${group.split('|').join(' · ')} (rule ${s.rule})` : 'nothing (no group matches the filters)';
    const v = group && D.cd && D.cd[`${s.rule}|${group}`];
    el('cd-text').textContent = v ? v.text : '';
    el('cd-text').dataset.key = group ? `${s.rule}|${group}` : '';
    el('cd-figure').replaceChildren();
    if (v && v.png) {  // our own figure, base64 only: built as an element, never as markup
      const img = document.createElement('img');
      img.id = 'cd-img'; img.alt = 'critical-difference diagram'; img.src = 'data:image/png;base64,' + v.png;
      el('cd-figure').appendChild(img);
    }
    plain('cd-pairs', v ? v.pairs : [], ['better', 'worse', 'rank_better', 'rank_worse', 'p_nemenyi']);
  }

  // ---- references, summary, wiring -------------------------------------------------------------
  if (D.references.length) {
    el('references-note').textContent = [...new Set(D.references.map(r => r.source))].join('; ') +
      '. Published numbers are the paper\'s/library\'s, not measured here; they select models with target labels.';
    plain('references', D.references.map(r => ({ ...r, published: `${r.published} (published)` })),
      ['backbone', 'precision', 'method', 'published', 'measured', 'pairs']);
  } else el('references-section').hidden = true;
  el('snapshots').textContent = D.snapshots.map(s => s.name.split('/').pop()).join(', ');
  el('summary').textContent = `Results: ${D.meta.results.length} snapshot(s), newest of each cell shown; ` +
    `${D.cells.length} table rows over ${Object.keys(D.rules).length} selection rule(s); ${D.regressions.length} flagged history step(s).`;
  el('ranking-note').textContent = `Per backbone and label budget: methods ranked by average rank across pairs (1 = best, ` +
    `over the pairs where every method has a value, as bench report's "Avg rank"), with the ${kind} of the per-pair seed means ` +
    `and its 95% bootstrap CI; "published" marks numbers taken from the literature.`;
  const redraw = () => {
    el('rule-text').textContent = `rule ${state().rule}: ${D.rules[state().rule]}`;
    ranking.draw(); cells.draw(); regressions.draw(); moves.draw(); pareto(); cdView();
    if (!el('drill').hidden) drill(el('drill').dataset.id);
  };
  for (const id of Object.values(FILTERS)) el(id).addEventListener('change', redraw);
  el('pareto-cost').addEventListener('change', pareto);
  redraw();
  const first = cells.row({ search: 'applied', order: 'applied' }, 0).data();
  if (first) historyPlot('history-plot', first.id);
  performance.mark('lb-ready');
  document.body.dataset.ready = String(performance.now());  // ms since navigation start: interactive
})().catch(e => { console.error('leaderboard: ' + (e && e.stack || e)); });
