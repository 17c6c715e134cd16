// The pages' one script: a small client of the example's API (POST /signup, POST /signup/confirm,
// GET /me) and of the kit's routes under /2fa. Each page names itself in <body data-page="...">.
//
// Tokens live in sessionStorage (gone when the tab closes). An answer 401 to an authenticated call
// spends the refresh token once for a new pair and retries; logging out revokes the refresh token.
// Page text is only ever set with textContent, never parsed as HTML.

const PREFIX = '/2fa';
const TOKENS_KEY = 'twofold-example.tokens';

const $ = (selector) => document.querySelector(selector);

// ---- tokens ---------------------------------------------------------------------------------------

function readTokens() {
  try {
    const tokens = JSON.parse(sessionStorage.getItem(TOKENS_KEY) ?? 'null');
    return tokens && typeof tokens.accessToken === 'string' && typeof tokens.refreshToken === 'string'
      ? tokens
      : null;
  } catch {
    return null;
  }
}

function saveTokens({ accessToken, refreshToken }) {
  sessionStorage.setItem(TOKENS_KEY, JSON.stringify({ accessToken, refreshToken }));
}

function clearTokens() {
  sessionStorage.removeItem(TOKENS_KEY);
}

// ---- API ------------------------------------------------------------------------------------------

/**
 * An error answer of the API: `{ statusCode, code, error, message }` (signup adds `fields`, every
 * invalid field with its message). `retryAfter`: the seconds of a `Retry-After` header, or null.
 */
class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super(body?.message ?? `The server answered ${status}`);
    this.status = status;
    this.code = body?.code ?? 'UNKNOWN';
    this.fields = Array.isArray(body?.fields) ? body.fields : [];
    this.retryAfter = retryAfter;
  }
}

/** The user must log in (again): no tokens, or the session ended. */
class SignedOutError extends Error {}

async function send(method, path, body, accessToken) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await response.text();
  let data = null;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  // Retry-After in seconds (a lock or a rate limit); an HTTP date is not used by this API.
  const retryAfter = /^\d+$/.test(response.headers.get('retry-after') ?? '')
    ? Number(response.headers.get('retry-after'))
    : null;
  return { status: response.status, data, retryAfter };
}

let refreshing = null;

/** Spends the refresh token for a new pair (one refresh at a time). False when the session is over. */
function refreshTokens() {
  refreshing ??= (async () => {
    const tokens = readTokens();
    if (!tokens) return false;
    const answer = await send('POST', `${PREFIX}/token/refresh`, { refreshToken: tokens.refreshToken });
    if (answer.status !== 200) {
      clearTokens();
      return false;
    }
    saveTokens(answer.data);
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/**
 * Calls the API; resolves the answer's body, rejects with ApiError. With `auth`, sends the access
 * token, and on a 401 refreshes once and tries again; rejects with SignedOutError when that fails.
 */
async function api(method, path, body, { auth = false } = {}) {
  if (!auth) {
    const answer = await send(method, path, body);
    if (answer.status >= 400) throw new ApiError(answer.status, answer.data, answer.retryAfter);
    return answer.data;
  }
  const tokens = readTokens();
  if (!tokens) throw new SignedOutError();
  let answer = await send(method, path, body, tokens.accessToken);
  if (answer.status === 401 && answer.data?.code === 'TWOFOLD_UNAUTHORIZED') {
    if (!(await refreshTokens())) throw new SignedOutError();
    answer = await send(method, path, body, readTokens().accessToken);
    if (answer.status === 401 && answer.data?.code === 'TWOFOLD_UNAUTHORIZED') {
      clearTokens();
      throw new SignedOutError();
    }
  }
  if (answer.status >= 400) throw new ApiError(answer.status, answer.data, answer.retryAfter);
  return answer.data;
}

// ---- page helpers ---------------------------------------------------------------------------------

function show(element, visible = true) {
  if (element) element.hidden = !visible;
}

/** "4 minutes", "30 seconds", "2 hours": how long `seconds` is, rounded up. */
function duration(seconds) {
  const [count, unit] =
    seconds < 60
      ? [seconds, 'second']
      : seconds < 2 * 3600
        ? [Math.ceil(seconds / 60), 'minute']
        : [Math.ceil(seconds / 3600), 'hour'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** What an error answer tells the user; a lock or a rate limit says when to try again. */
function errorText(error) {
  if (!(error instanceof ApiError)) return 'The server could not be reached. Try again in a moment.';
  if (error.retryAfter === null) return error.message;
  const lead =
    error.code === 'TWOFOLD_LOCKED'
      ? 'Too many wrong codes: this account is locked for now.'
      : error.code === 'TWOFOLD_RATE_LIMITED'
        ? 'Too many attempts for now.'
        : error.message;
  const at = new Date(Date.now() + error.retryAfter * 1000);
  // The local time, with its zone; with the date as well when that is more than 12 hours away.
  const when = error.retryAfter < 12 * 3600 ? formatClock(at) : formatTime(at.toISOString());
  return `${lead} Try again in ${duration(error.retryAfter)} (at ${when}).`;
}

function showError(element, error) {
  if (error instanceof SignedOutError) {
    goToLogin();
    return;
  }
  element.textContent = errorText(error);
  show(element);
}

/** Shows `text` in `element`, followed by a link (`href`, `linkText`); text only, never HTML. */
function showErrorWithLink(element, text, href, linkText) {
  const link = document.createElement('a');
  link.href = href;
  link.textContent = linkText;
  element.replaceChildren(document.createTextNode(`${text} `), link, document.createTextNode('.'));
  show(element);
}

function goToLogin() {
  clearTokens();
  location.assign('/login.html');
}

/** Runs `action` on submit with the button disabled; errors go to `errorElement`. */
function onSubmit(form, errorElement, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    show(errorElement, false);
    if (button) button.disabled = true;
    try {
      await action();
    } catch (error) {
      showError(errorElement, error);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

function fillList(list, items) {
  list.replaceChildren(
    ...items.map((item) => {
      const entry = document.createElement('li');
      entry.textContent = item;
      return entry;
    }),
  );
}

// Times in the visitor's locale and time zone, naming the zone ("Dec 4, 2026, 4:19 PM EST").
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  timeZoneName: 'short',
});
const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: 'numeric',
  minute: '2-digit',
  timeZoneName: 'short',
});
const formatTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : 'never');
const formatClock = (date) => clockFormat.format(date);

/**
 * The Copy and Download buttons under a list of recovery codes (`[data-codes]` names the list):
 * Copy puts the codes on the clipboard, one a line; Download saves them as a .txt file (a Blob URL).
 */
function codeActions(container) {
  const list = container.querySelector('[data-codes]');
  const status = container.querySelector('[data-codes-status]');
  const codes = () => [...list.querySelectorAll('li')].map((item) => item.textContent.trim());
  const say = (text) => {
    status.textContent = text;
  };
  container.querySelector('[data-copy-codes]').addEventListener('click', async () => {
    const text = `${codes().join('\n')}\n`;
    try {
      await navigator.clipboard.writeText(text);
      say('Copied to the clipboard.');
    } catch {
      // No clipboard access (an older browser, or permission refused): select them to copy by hand.
      const range = document.createRange();
      range.selectNodeContents(list);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      say('Copying is not allowed here: the codes are selected, copy them with the keyboard.');
    }
  });
  container.querySelector('[data-download-codes]').addEventListener('click', () => {
    const text = [
      `Recovery codes for your account on ${location.host}, saved ${formatTime(new Date().toISOString())}.`,
      'Each code logs you in once, instead of a code from your authenticator app.',
      '',
      ...codes(),
      '',
    ].join('\n');
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `recovery-codes-${location.hostname}.txt`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    say('Downloaded.');
  });
}

/** The header every page shares: the brand and the links for signed-in or signed-out visitors. */
function renderHeader() {
  const header = $('#site-header');
  if (!header) return;
  const link = (href, text, when) => {
    const a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    if (when) a.dataset.when = when;
    return a;
  };
  const brand = link('/', 'twofold example');
  brand.className = 'brand';
  const logoutButton = document.createElement('button');
  logoutButton.type = 'button';
  logoutButton.className = 'link';
  logoutButton.id = 'logout';
  logoutButton.dataset.when = 'signed-in';
  logoutButton.hidden = true;
  logoutButton.textContent = 'Log out';
  const nav = document.createElement('nav');
  nav.append(
    link('/settings.html', 'Settings', 'signed-in'),
    logoutButton,
    link('/login.html', 'Log in', 'signed-out'),
    link('/signup.html', 'Sign up', 'signed-out'),
  );
  header.replaceChildren(brand, nav);
}

function updateNav() {
  const signedIn = readTokens() !== null;
  for (const element of document.querySelectorAll('[data-when]')) {
    show(element, element.dataset.when === (signedIn ? 'signed-in' : 'signed-out'));
  }
}

async function logout() {
  const tokens = readTokens();
  clearTokens();
  if (tokens) {
    // Ends the session on the server: the refresh token no longer works anywhere.
    await send('POST', `${PREFIX}/token/revoke`, { refreshToken: tokens.refreshToken }).catch(() => {});
  }
  location.assign('/login.html');
}

/** Logs in with a username and password: tokens, or a challenge for the second step. */
function passwordStep(username, password) {
  return api('POST', `${PREFIX}/login`, { username, password });
}

// ---- pages ----------------------------------------------------------------------------------------

const pages = {
  async home() {
    // The Fastify example serves an OpenAPI document and a docs page; link them when they exist.
    fetch('/openapi.json', { method: 'HEAD' })
      .then((response) => show($('#docs-link'), response.ok))
      .catch(() => {});
    if (!readTokens()) return;
    try {
      const [me, status] = await Promise.all([
        api('GET', '/me', undefined, { auth: true }),
        api('GET', `${PREFIX}/status`, undefined, { auth: true }),
      ]);
      $('#who').textContent = me.username;
      $('#who-email').textContent = me.email;
      $('#status-summary').textContent = status.enabled
        ? `Two-factor authentication is on; ${status.recoveryCodesRemaining} recovery codes left.`
        : 'Two-factor authentication is off.';
      show($('#enable-link'), !status.enabled);
    } catch (error) {
      if (error instanceof SignedOutError) goToLogin();
      else $('#status-summary').textContent = error.message;
    }
  },

  signup() {
    const fieldNames = ['username', 'email', 'password'];
    /** Marks each field of `problems` ({ field, message }) with its message; clears the others. */
    const markFields = (problems) => {
      for (const name of fieldNames) {
        const problem = problems.find((entry) => entry.field === name);
        const input = $(`#${name}`);
        const message = $(`#${name}-error`);
        // '"email" must be an email address ...' reads "Must be an email address ..." under the field.
        const text = problem ? String(problem.message).replace(/^"[^"]*"\s*/, '') : '';
        message.textContent = text.charAt(0).toUpperCase() + text.slice(1);
        show(message, problem !== undefined);
        if (problem) input.setAttribute('aria-invalid', 'true');
        else input.removeAttribute('aria-invalid');
      }
    };
    onSubmit($('#signup-form'), $('#signup-error'), async () => {
      markFields([]);
      const email = $('#email').value;
      // The answer is "check your mail" whether or not the address has an account (the server
      // never says which): a link in the mail creates the account, then the user logs in.
      try {
        await api('POST', '/signup', {
          username: $('#username').value,
          email,
          password: $('#password').value,
        });
      } catch (error) {
        const problems = error instanceof ApiError ? error.fields : [];
        if (problems.some((problem) => fieldNames.includes(problem.field))) {
          markFields(problems);
          $(`#${problems.find((problem) => fieldNames.includes(problem.field)).field}`).focus();
          const others = problems.filter((problem) => !fieldNames.includes(problem.field));
          if (others.length === 0) {
            throw new ApiError(400, {
              message:
                problems.length === 1 ? 'Check the field marked below.' : 'Check the fields marked below.',
            });
          }
          throw new ApiError(400, { message: others.map((problem) => problem.message).join(' ') });
        }
        throw error;
      }
      $('#password').value = '';
      $('#signup-email').textContent = email.trim();
      show($('#signup-form'), false);
      show($('#signup-done'));
    });
  },

  'confirm-signup'() {
    // The link is /confirm-signup.html#token=...: a fragment never reaches a server or its logs.
    // Take it off the address bar (and history) at once; keep it in memory for the form. A new link
    // opened in the same tab only changes the hash: it replaces the one in memory.
    let token = null;
    const readLink = (initial) => {
      if (!initial && location.hash === '') return;
      token = new URLSearchParams(location.hash.slice(1)).get('token');
      history.replaceState(null, '', location.pathname);
      show($('#confirm-signup-error'), false);
      show($('#confirm-signup-done'), false);
      show($('#link-error'), !token);
      show($('#confirm-signup-form'), Boolean(token));
    };
    readLink(true);
    addEventListener('hashchange', () => readLink(false));
    onSubmit($('#confirm-signup-form'), $('#confirm-signup-error'), async () => {
      const user = await api('POST', '/signup/confirm', { token });
      $('#new-username').textContent = user.username;
      show($('#confirm-signup-form'), false);
      show($('#confirm-signup-done'));
    });
  },

  login() {
    let challengeToken = null;
    let useRecoveryCode = false;
    const setFactor = (recovery) => {
      useRecoveryCode = recovery;
      show($('#code-field'), !recovery);
      show($('#recovery-field'), recovery);
      (recovery ? $('#recovery-code') : $('#code')).focus();
    };
    $('#use-recovery').addEventListener('click', () => setFactor(true));
    $('#use-code').addEventListener('click', () => setFactor(false));

    onSubmit($('#login-form'), $('#login-error'), async () => {
      const answer = await passwordStep($('#username').value, $('#password').value);
      if (!answer.twoFactorRequired) {
        saveTokens(answer);
        location.assign('/');
        return;
      }
      challengeToken = answer.challengeToken;
      show($('#login-form'), false);
      show($('#verify-form'));
      $('#code').focus();
    });

    onSubmit($('#verify-form'), $('#verify-error'), async () => {
      const factor = useRecoveryCode
        ? { recoveryCode: $('#recovery-code').value }
        : { code: $('#code').value };
      try {
        saveTokens(await api('POST', `${PREFIX}/login/verify`, { challengeToken, ...factor }));
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_INVALID_CHALLENGE') {
          // The challenge expired or ran out of attempts: start again from the password, saying why
          // above the password form (the second step's own message is hidden with it).
          challengeToken = null;
          $('#code').value = '';
          $('#recovery-code').value = '';
          $('#password').value = '';
          show($('#verify-form'), false);
          show($('#login-form'));
          $('#login-error').textContent =
            'Your login took too long, or too many codes were wrong. Enter your password again.';
          show($('#login-error'));
          $('#password').focus();
          return;
        }
        throw error;
      }
      location.assign('/');
    });
  },

  enable() {
    if (!readTokens()) return goToLogin();
    codeActions($('#recovery-codes-section'));
    const start = $('#start-enroll');
    start.addEventListener('click', async () => {
      show($('#start-error'), false);
      start.disabled = true;
      try {
        const enrollment = await api('POST', `${PREFIX}/totp/enroll`, undefined, { auth: true });
        $('#qr').src = enrollment.qrDataUri;
        // On a phone the QR code cannot be scanned by the phone itself: this link opens the app.
        const openApp = document.createElement('a');
        openApp.className = 'button';
        openApp.href = enrollment.otpauthUri;
        openApp.textContent = 'Open in your authenticator app';
        $('#open-app').replaceChildren(document.createTextNode('On this phone? '), openApp);
        // The key in groups of 4; a group never breaks across lines (CSS), only the spaces between.
        const groups = enrollment.prettySecret.split(/\s+/).map((group) => {
          const span = document.createElement('span');
          span.className = 'group';
          span.textContent = group;
          return span;
        });
        $('#secret').replaceChildren(
          ...groups.flatMap((span, index) => (index === 0 ? [span] : [document.createTextNode(' '), span])),
        );
        $('#expires').textContent = formatTime(enrollment.expiresAt);
        show($('#enroll-start'), false);
        show($('#enroll-scan'));
        $('#code').focus();
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_ALREADY_ENABLED') {
          show($('#enroll-start'), false);
          show($('#already-enabled'));
        } else {
          showError($('#start-error'), error);
        }
      } finally {
        start.disabled = false;
      }
    });

    onSubmit($('#confirm-form'), $('#confirm-error'), async () => {
      const confirmed = await api(
        'POST',
        `${PREFIX}/totp/confirm`,
        { code: $('#code').value },
        { auth: true },
      );
      // Turning 2FA on signed out every session; this page goes on with the fresh tokens.
      if (confirmed.accessToken) saveTokens(confirmed);
      const { recoveryCodes } = confirmed;
      // The secret is no longer needed on the page.
      $('#qr').removeAttribute('src');
      $('#open-app').replaceChildren();
      $('#secret').textContent = '';
      fillList($('#recovery-codes'), recoveryCodes);
      show($('#enroll-scan'), false);
      show($('#recovery-codes-section'));
    });
  },

  async settings() {
    if (!readTokens()) return goToLogin();
    codeActions($('#new-codes-section'));
    const refresh = async () => {
      try {
        const status = await api('GET', `${PREFIX}/status`, undefined, { auth: true });
        $('#status-enabled').textContent = status.enabled
          ? 'on'
          : status.pending
            ? 'setup not finished'
            : 'off';
        $('#status-remaining').textContent = status.enabled ? String(status.recoveryCodesRemaining) : '-';
        $('#status-enabled-at').textContent = status.enabled ? formatTime(status.enabledAt) : '-';
        $('#status-last-used').textContent = status.enabled ? formatTime(status.lastUsedAt) : '-';
        show($('#manage'), status.enabled);
        show($('#not-enabled'), !status.enabled);
      } catch (error) {
        showError($('#status-error'), error);
      }
    };

    onSubmit($('#rotate-form'), $('#rotate-error'), async () => {
      const { recoveryCodes } = await api(
        'POST',
        `${PREFIX}/recovery-codes/rotate`,
        { code: $('#rotate-code').value },
        { auth: true },
      );
      $('#rotate-code').value = '';
      fillList($('#new-recovery-codes'), recoveryCodes);
      $('#new-codes-section [data-codes-status]').textContent = '';
      show($('#new-codes-section'));
      await refresh();
    });

    onSubmit($('#disable-form'), $('#disable-error'), async () => {
      const code = $('#disable-code').value.trim();
      const recoveryCode = $('#disable-recovery-code').value.trim();
      if ((code === '') === (recoveryCode === '')) {
        throw new ApiError(400, { message: 'Enter either a code from your app or a recovery code.' });
      }
      const fresh = await api('POST', `${PREFIX}/totp/disable`, code ? { code } : { recoveryCode }, {
        auth: true,
      });
      // Turning 2FA off signed out every session; this page goes on with the fresh tokens.
      if (fresh?.accessToken) saveTokens(fresh);
      $('#disable-code').value = '';
      $('#disable-recovery-code').value = '';
      show($('#new-codes-section'), false);
      show($('#disabled-notice'));
      await refresh();
    });

    await refresh();
  },

  'lost-device'() {
    onSubmit($('#lost-form'), $('#lost-error'), async () => {
      await api('POST', `${PREFIX}/recovery/request`, { email: $('#email').value });
      show($('#lost-form'), false);
      show($('#lost-done'));
    });
  },

  recover() {
    // The link is /recover.html#uid=...&token=...: a fragment never reaches a server or its logs.
    // Take it off the address bar (and history) at once; keep it in memory for the form. A new link
    // opened in the same tab only changes the hash: it replaces the one in memory.
    let uid = null;
    let token = null;
    const readLink = (initial) => {
      const fragment = new URLSearchParams(location.hash.slice(1));
      if (!initial && location.hash === '') return;
      history.replaceState(null, '', location.pathname);
      uid = fragment.get('uid');
      token = fragment.get('token');
      const complete = Boolean(uid && token);
      $('#password').value = '';
      show($('#recover-error'), false);
      show($('#recover-done'), false);
      show($('#link-error'), !complete);
      show($('#recover-form'), complete);
    };
    readLink(true);
    addEventListener('hashchange', () => readLink(false));
    onSubmit($('#recover-form'), $('#recover-error'), async () => {
      try {
        await api('POST', `${PREFIX}/recovery/confirm`, { uid, token, password: $('#password').value });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_INVALID_RECOVERY_TOKEN') {
          // Used already, older than an hour, replaced by a newer link, or the password is wrong.
          showErrorWithLink(
            $('#recover-error'),
            'This link or the password is not valid. Check the password; if the link was used already or is more than an hour old,',
            '/lost-device.html',
            'ask for a new one',
          );
          return;
        }
        throw error;
      }
      // Every session of the account was signed out, this one too.
      clearTokens();
      updateNav();
      show($('#recover-form'), false);
      show($('#recover-done'));
    });
  },
};

renderHeader();
updateNav();
$('#logout')?.addEventListener('click', logout);
pages[document.body.dataset.page]?.();
