// auth-server console. Every action is one call of the /v1 API, with the
// key in the Authorization header. Names are only ever set as textContent.
'use strict';
(() => {
  const STORE = 'auth-console-key';
  const PAGE = 100;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  let key = sessionStorage.getItem(STORE) || '';

  // ---- helpers -------------------------------------------------------
  function say(msg, error) {
    const s = $('status');
    s.textContent = msg;
    s.className = error ? 'error' : '';
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function headers(extra) {
    return Object.assign({ Authorization: 'Bearer ' + key }, extra || {});
  }

  // api calls the /v1 API and answers the parsed JSON and the response.
  async function api(method, path, body, type) {
    const init = { method, headers: headers(), cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.body = body;
      init.headers['Content-Type'] = type || 'application/json';
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const msg = data && data.error ? data.error : text;
      const err = new Error(method + ' ' + path.split('?')[0] + ': ' + res.status + ' ' + msg);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return { data, res };
  }

  function query(args) {
    const parts = [];
    for (const [k, v] of Object.entries(args)) {
      if (v !== undefined && v !== null && v !== '') parts.push(k + '=' + enc(v));
    }
    return parts.length ? '?' + parts.join('&') : '';
  }

  // guard runs an action and reports its failure in the status line.
  function guard(fn) {
    return async (ev) => {
      if (ev && ev.preventDefault) ev.preventDefault();
      try {
        await fn(ev);
      } catch (e) {
        say(e.message, true);
      }
    };
  }

  function on(id, event, fn) { $(id).addEventListener(event, guard(fn)); }

  // A paged list: the server selects, filters and pages; this keeps the
  // cursor of the next page only.
  function pagedList(opts) {
    const state = { after: '', next: null };
    async function load(after) {
      const path = opts.path();
      if (!path) return;
      const args = { limit: opts.limit || PAGE, after, prefix: opts.prefix ? $(opts.prefix).value : '' };
      if (opts.extra) Object.assign(args, opts.extra);
      const { data } = await api('GET', path + query(args));
      const items = data.result || data.results || [];
      state.after = after;
      state.next = data.next;
      opts.render(items);
      if (opts.nextButton) $(opts.nextButton).disabled = data.next === null || data.next === undefined;
      if (opts.firstButton) $(opts.firstButton).disabled = !after;
    }
    if (opts.nextButton) on(opts.nextButton, 'click', () => load(state.next));
    if (opts.firstButton) on(opts.firstButton, 'click', () => load(''));
    return { first: () => load(''), reload: () => load(state.after) };
  }

  function renderNames(listId, field, actions) {
    return (items) => {
      const ul = $(listId);
      ul.replaceChildren();
      if (items.length === 0) ul.append(el('li', 'none', 'empty'));
      for (const it of items) {
        const li = el('li');
        const name = it[field];
        li.append(el('span', name, 'name'));
        for (const a of actions || []) {
          const b = el('button', a.label);
          b.type = 'button';
          b.addEventListener('click', guard(() => a.run(name)));
          li.append(b);
        }
        ul.append(li);
      }
    };
  }

  // A paged list of names, each its field of an item of path's pages,
  // in #<list>, with actions beside each (renderNames) and the button
  // #<list>-next.
  function namesList(path, list, field, actions) {
    return pagedList({ path, nextButton: list + '-next', render: renderNames(list, field, actions) });
  }

  // ---- views ---------------------------------------------------------
  const views = ['roles', 'role', 'user', 'perm', 'check', 'feed', 'bulk'];
  function show(view) {
    for (const v of views) $('view-' + v).hidden = v !== view;
    for (const b of document.querySelectorAll('nav button')) {
      b.classList.toggle('active', b.dataset.view === view || (view === 'role' && b.dataset.view === 'roles'));
    }
  }
  for (const b of document.querySelectorAll('nav button')) {
    b.addEventListener('click', () => show(b.dataset.view));
  }

  // Roles, with their counts.
  const roles = pagedList({
    path: () => '/v1/roles',
    extra: { counts: 'true' },
    prefix: 'roles-prefix',
    nextButton: 'roles-next',
    firstButton: 'roles-first',
    render: (items) => {
      const tb = $('roles-list');
      tb.replaceChildren();
      if (items.length === 0) {
        const tr = el('tr');
        const td = el('td', 'no roles', 'empty');
        td.colSpan = 4;
        tr.append(td);
        tb.append(tr);
      }
      for (const r of items) {
        const tr = el('tr');
        const open = el('button', r.role, 'link');
        open.type = 'button';
        open.addEventListener('click', guard(() => openRole(r.role)));
        const td = el('td');
        td.append(open);
        const del = el('button', 'Delete');
        del.type = 'button';
        del.addEventListener('click', guard(async () => {
          if (!confirm('Delete role ' + r.role + ' with its grants and memberships?')) return;
          await api('DELETE', '/v1/role/' + enc(r.role));
          say('deleted role ' + r.role);
          await roles.reload();
        }));
        const tdDel = el('td');
        tdDel.append(del);
        tr.append(td, el('td', r.members, 'num'), el('td', r.permissions, 'num'), tdDel);
        tb.append(tr);
      }
    },
  });
  on('roles-search', 'submit', () => roles.first());
  on('role-create', 'submit', async () => {
    const name = $('role-new').value;
    const { data } = await api('POST', '/v1/role/' + enc(name));
    say(data.result ? 'created role ' + name : 'role ' + name + ' already exists');
    $('role-new').value = '';
    await roles.reload();
  });

  // One role: its counts, members and permissions.
  let role = '';
  async function roleCounts() {
    const { data } = await api('GET', '/v1/role_counts/' + enc(role));
    $('role-counts').textContent = data.result
      ? data.members + ' members, ' + data.permissions + ' permissions'
      : 'no such role';
  }
  // A list of the role's facts, its members or its permissions (o.id; one
  // of them is an o.one, named by o.field in a page and at o.path(name) in
  // the API): each with a button that takes it away (o.remove: the label,
  // and the word that reports it), and a form, #<one>-add, that adds one
  // (o.added reports it).
  function roleFacts(o) {
    const list = pagedList({
      path: () => role && o.listPath + enc(role),
      prefix: o.prefix,
      nextButton: o.id + '-next',
      firstButton: o.id + '-first',
      render: renderNames(o.id + '-list', o.field, [{
        label: o.remove[0],
        run: async (name) => {
          await api('DELETE', o.path(name));
          say(o.remove[1] + ' ' + name + ' from ' + role);
          await Promise.all([list.reload(), roleCounts()]);
        },
      }]),
    });
    on(o.one + '-add', 'submit', async () => {
      const name = $(o.one + '-new').value;
      const { data } = await api('POST', o.path(name));
      say(data.result ? o.added + ' ' + name + ' to ' + role : 'no role ' + role);
      $(o.one + '-new').value = '';
      await Promise.all([list.reload(), roleCounts()]);
    });
    return list;
  }
  const members = roleFacts({ id: 'members', one: 'member', field: 'user', prefix: 'members-prefix', listPath: '/v1/members/',
    path: (user) => '/v1/membership/' + enc(user) + '/' + enc(role), remove: ['Remove', 'removed'], added: 'added' });
  const perms = roleFacts({ id: 'perms', one: 'perm', field: 'name', listPath: '/v1/role_permissions/',
    path: (perm) => '/v1/permission/' + enc(role) + '/' + enc(perm), remove: ['Revoke', 'revoked'], added: 'granted' });
  async function openRole(name) {
    role = name;
    $('role-name').textContent = name;
    $('members-prefix').value = '';
    show('role');
    await Promise.all([roleCounts(), members.first(), perms.first()]);
  }
  on('role-back', 'click', async () => { show('roles'); await roles.reload(); });
  on('members-search', 'submit', () => members.first());

  // A user: roles and effective permissions ("what can U").
  let user = '';
  const userRoles = namesList(() => user && '/v1/user_roles/' + enc(user), 'user-roles', 'role', [{
    label: 'Remove',
    run: async (r) => {
      await api('DELETE', '/v1/membership/' + enc(user) + '/' + enc(r));
      say('removed ' + user + ' from ' + r);
      await Promise.all([userRoles.first(), userPerms.first()]);
    },
  }]);
  const userPerms = namesList(() => user && '/v1/user_permissions/' + enc(user), 'user-perms', 'name');
  on('user-open', 'submit', async () => {
    user = $('user-name').value;
    $('user-title').textContent = user;
    $('user-detail').hidden = false;
    await Promise.all([userRoles.first(), userPerms.first()]);
  });
  on('user-role-add', 'submit', async () => {
    const r = $('user-role-new').value;
    const { data } = await api('POST', '/v1/membership/' + enc(user) + '/' + enc(r));
    say(data.result ? 'added ' + user + ' to ' + r : 'no role ' + r);
    $('user-role-new').value = '';
    await Promise.all([userRoles.first(), userPerms.first()]);
  });

  // A permission: who can ("which roles", "which users").
  let perm = '';
  const permRoles = namesList(() => perm && '/v1/which_roles_can/' + enc(perm), 'perm-roles', 'role');
  const permUsers = namesList(() => perm && '/v1/which_users_can/' + enc(perm), 'perm-users', 'user');
  on('perm-open', 'submit', async () => {
    perm = $('perm-name').value;
    await Promise.all([permRoles.first(), permUsers.first()]);
  });

  // The check, and through which roles.
  on('check-form', 'submit', async () => {
    const u = $('check-user').value;
    const p = $('check-perm').value;
    const { data } = await api('GET', '/v1/why/' + enc(u) + '/' + enc(p));
    const out = $('check-result');
    out.replaceChildren();
    out.append(el('span', data.result ? 'allowed' : 'denied', data.result ? 'allowed' : 'denied'));
    if (data.result) {
      out.append(document.createTextNode(' through '));
      data.via.forEach((v, i) => {
        if (i > 0) out.append(document.createTextNode(', '));
        out.append(el('span', v.role, 'name'));
      });
    } else {
      out.append(document.createTextNode(': no role of this user is granted this permission'));
    }
  });

  // ---- the live audit trail ------------------------------------------
  // EventSource cannot send the Authorization header, so the stream is
  // read with fetch() and a streaming body reader.
  let feed = null; // the AbortController of the running stream
  let lastSeq = -1;
  const FEED_ROWS = 500;

  function feedState(msg) { $('feed-state').textContent = msg; }

  function feedRow(ev) {
    const tr = el('tr');
    let r = ev.role;
    if (Array.isArray(ev.changes)) r = ev.changes.length + ' changes';
    const keyID = ev.key_id || ev.key || '';
    for (const v of [ev.seq, ev.time, ev.op, r, ev.permission, ev.user, keyID]) tr.append(el('td', v === undefined ? '' : v));
    const tb = $('feed');
    tb.prepend(tr);
    while (tb.children.length > FEED_ROWS) tb.lastChild.remove();
  }

  function feedBlock(block) {
    let type = '';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    const text = data.join('\n');
    if (type === 'error') {
      let msg = text;
      try { msg = JSON.parse(text); } catch (_) { /* as it is */ }
      feedState('the server said: ' + msg);
      return;
    }
    if (type !== '' && type !== 'message') return; // heartbeats and the like
    let ev;
    try { ev = JSON.parse(text); } catch (_) { return; }
    if (typeof ev.seq !== 'number' || !ev.op) return;
    if (ev.seq <= lastSeq) return;
    lastSeq = ev.seq;
    feedRow(ev);
  }

  async function startFeed() {
    stopFeed();
    if (!key) return;
    const ctl = new AbortController();
    feed = ctl;
    try {
      if (lastSeq < 0) {
        // Begin with the tenant's last 50 events: its seq is in the
        // X-Auth-Seq header of any /v1 read.
        const { res } = await api('GET', '/v1/roles' + query({ limit: 1 }));
        const seq = Number(res.headers.get('X-Auth-Seq') || 0);
        lastSeq = Math.max(0, seq - 50);
      }
      const res = await fetch('/v1/events/stream' + query({ after: lastSeq }), {
        headers: headers({ Accept: 'text/event-stream' }),
        cache: 'no-store',
        credentials: 'omit',
        signal: ctl.signal,
      });
      if (!res.ok) {
        let msg = String(res.status);
        try { msg += ' ' + (await res.json()).error; } catch (_) { /* no JSON */ }
        if (res.status === 410) lastSeq = -1; // retention: start from the live end
        throw new Error(msg);
      }
      feedState('live');
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          feedBlock(block);
        }
      }
      feedState('the stream ended; reconnecting…');
    } catch (e) {
      if (ctl.signal.aborted) return;
      feedState('disconnected (' + e.message + '); reconnecting…');
    }
    if (feed === ctl) setTimeout(() => { if (feed === ctl) startFeed(); }, 2000);
  }

  function stopFeed() {
    if (feed) feed.abort();
    feed = null;
  }

  // ---- export and import ---------------------------------------------
  on('export', 'click', async () => {
    const res = await fetch('/v1/export', { headers: headers(), cache: 'no-store', credentials: 'omit' });
    if (!res.ok) throw new Error('export: ' + res.status + ' ' + (await res.text()));
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a');
    a.href = url;
    a.download = 'auth-export.jsonl';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    say('exported ' + blob.size + ' bytes');
  });
  on('import-form', 'submit', async () => {
    const file = $('import-file').files[0];
    const out = $('import-result');
    if (!file) { out.textContent = 'choose a file first'; return; }
    const res = await fetch('/v1/import', {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/x-ndjson' }),
      body: file,
      cache: 'no-store',
      credentials: 'omit',
    });
    out.textContent = res.status + ' ' + res.statusText + '\n' + (await res.text());
    if (res.ok) await roles.reload();
  });

  // ---- the key -------------------------------------------------------
  async function useKey(k) {
    key = k;
    $('start').hidden = !!key;
    $('app').hidden = !key;
    lastSeq = -1;
    $('feed').replaceChildren();
    stopFeed();
    if (!key) return;
    show('roles');
    await roles.first();
    say('key in use (kept in this tab only)');
    startFeed();
  }
  on('key-form', 'submit', async () => {
    const k = $('key').value;
    $('key').value = '';
    if (!k) { say('type a key first', true); return; }
    // A browser sends a header's characters past ASCII as single bytes,
    // not as the UTF-8 the server reads: such a key would name another
    // tenant, or none.
    if (/[^\x20-\x7e]/.test(k)) {
      say('the console takes keys of printable ASCII characters only; use the API or authctl for this key', true);
      return;
    }
    sessionStorage.setItem(STORE, k);
    await useKey(k);
  });
  on('key-forget', 'click', async () => {
    sessionStorage.removeItem(STORE);
    await useKey('');
    say('key forgotten');
  });
  guard(() => useKey(key))();
})();
