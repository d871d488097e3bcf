// The monitor page's only script: a confirmation before a terminate, the
// answer shown in the page, and a refresh that swaps in the server-rendered
// part of the page (no client-side templates).
(function () {
  'use strict';
  var dialog = document.getElementById('confirm');
  var text = document.getElementById('confirm-text');
  var result = document.getElementById('result');
  var pending = null;

  function show(message, isError) {
    result.textContent = message;
    result.className = isError ? 'error' : '';
  }

  function refresh() {
    return fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/html' } })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('monitor');
        var current = document.getElementById('monitor');
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
        }
      })
      .catch(function () { show('Could not refresh the page.', true); });
  }

  function terminate(p) {
    show('Terminating ' + p.user + "'s session…", false);
    fetch('api/v1/sources/' + encodeURIComponent(p.source) + '/sessions/' + encodeURIComponent(p.id) + '/terminate',
      { method: 'POST', credentials: 'same-origin' })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          var reason = body.reason || ('HTTP ' + resp.status);
          if (resp.ok) {
            show((body.dry_run ? 'Dry run: ' : 'Terminated: ') + p.user + ' on ' + (p.host || 'an unknown host') + '. ' + reason, false);
          } else {
            show('Not terminated (HTTP ' + resp.status + '): ' + reason, true);
          }
          return refresh();
        });
      })
      .catch(function () { show('The terminate request failed to reach the sidecar.', true); });
  }

  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest('button[data-terminate]');
    if (btn) {
      pending = { id: btn.dataset.terminate, source: btn.dataset.source, user: btn.dataset.user, product: btn.dataset.product, host: btn.dataset.host };
      text.textContent = 'Terminate the ' + pending.product + ' session of ' + pending.user +
        (pending.host ? ' on ' + pending.host : '') + '?';
      dialog.showModal();
      return;
    }
    if (ev.target.id === 'refresh') {
      show('', false);
      refresh();
    }
  });
  document.getElementById('confirm-cancel').addEventListener('click', function () {
    pending = null;
    dialog.close();
  });
  document.getElementById('confirm-yes').addEventListener('click', function () {
    var p = pending;
    pending = null;
    dialog.close();
    if (p) { terminate(p); }
  });
})();
