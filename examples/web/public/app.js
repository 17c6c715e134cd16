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

/** An error answer of the API: `{ statusCode, code, error, message }`. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}`);
    this.status = status;
    this.code = body?.code ?? 'UNKNOWN';
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
  return { status: response.status, data };
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
    if (answer.status >= 400) throw new ApiError(answer.status, answer.data);
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
  if (answer.status >= 400) throw new ApiError(answer.status, answer.data);
  return answer.data;
}

// ---- page helpers ---------------------------------------------------------------------------------

function show(element, visible = true) {
  if (element) element.hidden = !visible;
}

function showError(element, error) {
  if (error instanceof SignedOutError) {
    goToLogin();
    return;
  }
  element.textContent =
    error instanceof ApiError ? error.message : 'The server could not be reached. Try again in a moment.';
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

const formatTime = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

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
    onSubmit($('#signup-form'), $('#signup-error'), async () => {
      const email = $('#email').value;
      // The answer is "check your mail" whether or not the address has an account (the server
      // never says which): a link in the mail creates the account, then the user logs in.
      await api('POST', '/signup', { username: $('#username').value, email, password: $('#password').value });
      $('#password').value = '';
      $('#signup-email').textContent = email.trim();
      show($('#signup-form'), false);
      show($('#signup-done'));
    });
  },

  'confirm-signup'() {
    // The link is /confirm-signup.html#token=...: a fragment never reaches a server or its logs.
    // Take it off the address bar (and history) at once; keep it in memory for the form.
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    history.replaceState(null, '', location.pathname);
    if (!token) {
      show($('#link-error'));
      return;
    }
    show($('#confirm-signup-form'));
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
          // The challenge expired or ran out of attempts: start again from the password.
          show($('#verify-form'), false);
          show($('#login-form'));
        }
        throw error;
      }
      location.assign('/');
    });
  },

  enable() {
    if (!readTokens()) return goToLogin();
    const start = $('#start-enroll');
    start.addEventListener('click', async () => {
      show($('#start-error'), false);
      start.disabled = true;
      try {
        const enrollment = await api('POST', `${PREFIX}/totp/enroll`, undefined, { auth: true });
        $('#qr').src = enrollment.qrDataUri;
        $('#secret').textContent = enrollment.prettySecret;
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
      $('#secret').textContent = '';
      fillList($('#recovery-codes'), recoveryCodes);
      show($('#enroll-scan'), false);
      show($('#recovery-codes-section'));
    });
  },

  async settings() {
    if (!readTokens()) return goToLogin();
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
    // Take it off the address bar (and history) at once; keep it in memory for the form.
    const fragment = new URLSearchParams(location.hash.slice(1));
    const uid = fragment.get('uid');
    const token = fragment.get('token');
    history.replaceState(null, '', location.pathname);
    if (!uid || !token) {
      show($('#link-error'));
      return;
    }
    show($('#recover-form'));
    onSubmit($('#recover-form'), $('#recover-error'), async () => {
      await api('POST', `${PREFIX}/recovery/confirm`, { uid, token, password: $('#password').value });
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
