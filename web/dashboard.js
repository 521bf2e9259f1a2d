/* tillpoints-web: the dashboard's three charts (docs/DESIGN.md §15).
 * An external file (the CSP forbids inline script): it fetches
 * /dashboard.json, draws the charts with the local Chart.js
 * (/static/chart.js), and sets data-ready="1" on <body> once all three
 * are drawn. Without JavaScript the page's table shows the same figures. */
(function () {
  'use strict';
  var colours = ['#1d4ed8', '#f59e0b', '#059669', '#b42318', '#7c3aed', '#0891b2', '#be185d',
                 '#4d7c0f'];
  function chart(id, config) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    config.options = config.options || {};
    config.options.animation = false;
    config.options.responsive = true;
    config.options.maintainAspectRatio = true;
    return new window.Chart(el.getContext('2d'), config);
  }
  function draw(d) {
    var points = chart('chart-points', {
      type: 'bar',
      data: { labels: d.days, datasets: [
        { label: 'Issued', data: d.issued, backgroundColor: colours[0] },
        { label: 'Retro', data: d.retro, backgroundColor: colours[1] },
        { label: 'Adjusted', data: d.adjusted, backgroundColor: colours[2] },
        { label: 'Refunded', data: d.refunded, backgroundColor: colours[3] }
      ] }
    });
    var terminals = Object.keys(d.missed || {});
    var missed = chart('chart-missed', {
      type: 'line',
      data: { labels: d.days, datasets: terminals.map(function (t, i) {
        return { label: t, data: d.missed[t], borderColor: colours[i % colours.length],
                 backgroundColor: colours[i % colours.length], fill: false };
      }) },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 10,
                                title: { display: true, text: '% of receipts' } } } }
    });
    var managers = Object.keys(d.retro_by_manager || {});
    var retro = chart('chart-retro', {
      type: 'bar',
      data: { labels: managers, datasets: [{
        label: 'Retro credits (30 days)',
        data: managers.map(function (m) { return d.retro_by_manager[m]; }),
        backgroundColor: colours[1] }] },
      options: { indexAxis: 'y' }
    });
    if (points && missed && retro) {
      document.body.setAttribute('data-ready', '1');
    }
  }
  function start() {
    if (!window.Chart || !window.fetch) { return; }
    window.fetch('/dashboard.json', { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(draw)
      .catch(function (e) {
        var p = document.createElement('p');
        p.className = 'error';
        p.textContent = 'The charts could not be drawn (' + e.message + '); the table below has the figures.';
        var charts = document.querySelector('.charts');
        if (charts) { charts.appendChild(p); }
      });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
