// The pages' one script: a small client of the example's API (POST /signup, POST /signup/confirm,
// GET /me) and of the kit's routes under /2fa. Each page names itself in <body data-page="...">.
//
// Tokens live in sessionStorage (gone when the tab closes). An answer 401 to an authenticated call
// spends the refresh token once for a new pair and retries; logging out revokes the refresh token.
// Page text is only ever set with textContent, never parsed as HTML.
//
// Security keys and passkeys (WebAuthn) use the browser's own JSON support:
// PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON turn the kit's
// options into what navigator.credentials wants, and credential.toJSON() is the answer the kit
// takes. A browser without them is told so on the page (webauthnSupported).

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

/**
 * The account must use two-factor authentication (a mandatory-2FA policy) and this session may only
 * set it up: the kit answered 403 TWOFOLD_ENROLLMENT_REQUIRED.
 */
class EnrollmentRequiredError extends Error {}

/** What went wrong with a security key or passkey in the browser, said for people. */
class KeyError extends Error {}

/** The user closed a dialog that asked for something: nothing to say. */
class CancelledError extends Error {}

/**
 * One request. `cookies`: send and accept this site's cookies (only the login's two steps do: the
 * remembered-browser cookie, HttpOnly, lives there); every other call goes without any.
 */
async function send(method, path, body, accessToken, cookies = false) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: cookies ? 'same-origin' : 'omit',
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
 * token, and on a 401 refreshes once and tries again; rejects with SignedOutError when that fails,
 * and with EnrollmentRequiredError when the session may only set up 2FA.
 */
async function api(method, path, body, { auth = false, cookies = false } = {}) {
  if (!auth) {
    const answer = await send(method, path, body, undefined, cookies);
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
  if (answer.status === 403 && answer.data?.code === 'TWOFOLD_ENROLLMENT_REQUIRED') {
    throw new EnrollmentRequiredError(answer.data.message);
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
  if (error instanceof KeyError) return error.message;
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
  if (error instanceof EnrollmentRequiredError) {
    goToEnrollment();
    return;
  }
  if (error instanceof CancelledError) return;
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

/**
 * The account must use 2FA before anything else: to enable.html, which says so (`?required=1`).
 * On that page already, the message is shown there.
 */
function goToEnrollment() {
  if (document.body.dataset.page === 'enable') {
    show($('#required-notice'));
    return;
  }
  location.assign('/enable.html?required=1');
}

/**
 * What a mandatory-2FA policy's grace leaves the user (`enrollmentRequiredBy`, `graceLoginsLeft`
 * of GET /2fa/status or of the login), in words; '' when no deadline applies.
 */
function graceText(state) {
  if (!state || state.enabled || state.enrollmentRequired) return '';
  const by = state.enrollmentRequiredBy ? formatTime(state.enrollmentRequiredBy) : null;
  const left = typeof state.graceLoginsLeft === 'number' ? state.graceLoginsLeft : null;
  if (by === null && left === null) return '';
  const logins =
    left === null
      ? null
      : left === 0
        ? 'your next login will need it'
        : `you can log in without it ${left === 1 ? 'once more' : `${left} more times`}`;
  const deadline =
    by !== null && logins !== null
      ? `by ${by}, and ${logins} (whichever comes first)`
      : by !== null
        ? `by ${by}`
        : `soon: ${logins}`;
  return `Your account must use two-factor authentication ${deadline}. Set it up now to keep access.`;
}

/**
 * Runs `action` with the buttons of `container` disabled (one action at a time); errors go to
 * `errorElement`.
 */
async function runAction(container, errorElement, action) {
  const buttons = [...container.querySelectorAll('button')].filter((button) => !button.disabled);
  show(errorElement, false);
  for (const button of buttons) button.disabled = true;
  try {
    await action();
  } catch (error) {
    showError(errorElement, error);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

/** Runs `action` on submit with the form's buttons disabled; errors go to `errorElement`. */
function onSubmit(form, errorElement, action) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    runAction(form, errorElement, action);
  });
}

/** Runs `action` when `button` is clicked, with the buttons of `container` disabled. */
function onClick(button, container, errorElement, action) {
  button.addEventListener('click', () => runAction(container, errorElement, action));
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

// ---- security keys and passkeys (WebAuthn) --------------------------------------------------------

/** Whether this browser has WebAuthn with its JSON support (options from JSON, answers to JSON). */
function webauthnSupported() {
  return (
    typeof PublicKeyCredential === 'function' &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function' &&
    typeof PublicKeyCredential.prototype.toJSON === 'function' &&
    typeof navigator.credentials?.create === 'function'
  );
}

const UNSUPPORTED =
  'This browser cannot use security keys or passkeys on this page (it lacks WebAuthn’s JSON support). Use an up-to-date browser, or a code.';

/**
 * Security keys belong to a domain (the relying party id, PUBLIC_URL's host): the browser refuses
 * them on any other address, e.g. 127.0.0.1 for a site set up as localhost. Say where they work.
 */
function checkKeyDomain(rpId) {
  const host = location.hostname;
  if (!rpId || host === rpId || host.endsWith(`.${rpId}`)) return;
  const port = location.port ? `:${location.port}` : '';
  throw new KeyError(
    `Security keys work on this site only at ${rpId}: open ${location.protocol}//${rpId}${port}${location.pathname} and try again.`,
  );
}

/** The browser's refusal (a DOMException) said for people. */
function keyFailure(error, creating) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'AbortError':
      return new KeyError(
        'The security key did not answer: the request was cancelled or timed out. Try again when you are ready to touch it.',
      );
    case 'InvalidStateError':
      return new KeyError(
        creating
          ? 'This security key or passkey is registered on your account already.'
          : 'This security key is not registered on your account.',
      );
    case 'SecurityError':
      return new KeyError('The browser refused to use a security key on this address.');
    case 'NotSupportedError':
      return new KeyError('This security key or device does not support what this site asks for.');
    default:
      return new KeyError(`The security key could not be used (${error?.name ?? 'unknown error'}).`);
  }
}

/** Asks the browser to create a credential for the kit's creation options; its answer, as JSON. */
async function createKey(optionsJSON) {
  if (!webauthnSupported()) throw new KeyError(UNSUPPORTED);
  checkKeyDomain(optionsJSON?.rp?.id);
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(optionsJSON);
    credential = await navigator.credentials.create({ publicKey });
  } catch (error) {
    throw keyFailure(error, true);
  }
  if (!credential) throw keyFailure(null, true);
  return credential.toJSON();
}

/** Asks the browser for an assertion for the kit's request options; its answer, as JSON. */
async function useKey(optionsJSON) {
  if (!webauthnSupported()) throw new KeyError(UNSUPPORTED);
  checkKeyDomain(optionsJSON?.rpId);
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(optionsJSON);
    credential = await navigator.credentials.get({ publicKey });
  } catch (error) {
    throw keyFailure(error, false);
  }
  if (!credential) throw keyFailure(null, false);
  return credential.toJSON();
}

/** A security key as the second factor of a signed-in user (step-up, remove, rotate, disable). */
async function keyFactor() {
  const options = await api('POST', `${PREFIX}/webauthn/authenticate/options`, {}, { auth: true });
  return { webauthn: await useKey(options) };
}

// ---- fresh second factors -------------------------------------------------------------------------

/**
 * Shows in `root` what the user can prove a factor with: `[data-needs="totp"]` only with an
 * authenticator app (`[data-needs="no-totp"]` only without), `[data-use-key]` only with a security
 * key the browser can use.
 */
function showFactorChoices(root, counts) {
  for (const element of root.querySelectorAll('[data-needs="totp"]')) show(element, counts.totp > 0);
  for (const element of root.querySelectorAll('[data-needs="no-totp"]')) show(element, counts.totp === 0);
  for (const element of root.querySelectorAll('[data-use-key]')) {
    show(element, counts.webauthn > 0 && webauthnSupported());
  }
}

/**
 * A form asking for a fresh second factor: a code (`[data-factor="code"]`) or a recovery code
 * (`[data-factor="recovery"]`, when the form has that field) on submit, or a security key with the
 * `[data-use-key]` button. `action` gets `{ code }`, `{ recoveryCode }` or `{ webauthn }`.
 */
function factorForm(form, errorElement, action) {
  const code = form.querySelector('[data-factor="code"]');
  const recovery = form.querySelector('[data-factor="recovery"]');
  onSubmit(form, errorElement, async () => {
    const typed = code && !code.closest('[hidden]') ? code.value.trim() : '';
    const typedRecovery = recovery ? recovery.value.trim() : '';
    if ((typed === '') === (typedRecovery === '')) {
      throw new ApiError(400, {
        message: !recovery
          ? 'Enter a code from your app.'
          : code && !code.closest('[hidden]')
            ? 'Enter either a code from your app or a recovery code.'
            : 'Enter a recovery code, or use your security key.',
      });
    }
    await action(typed ? { code: typed } : { recoveryCode: typedRecovery });
  });
  const keyButton = form.querySelector('[data-use-key]');
  if (keyButton) onClick(keyButton, form, errorElement, async () => action(await keyFactor()));
}

/** Empties the factor fields of `form`. */
function clearFactors(form) {
  for (const input of form.querySelectorAll('[data-factor]')) input.value = '';
}

let stepUpWaiting = null;

/**
 * The step-up dialog of the page (`#step-up`): asks for a fresh second factor and spends it at
 * POST /2fa/step-up, whose access token then passes the kit's "recent second factor" check.
 */
function setUpStepUp() {
  const dialog = $('#step-up');
  if (!dialog) return;
  const form = $('#step-up-form');
  factorForm(form, $('#step-up-error'), async (factor) => {
    const { accessToken } = await api('POST', `${PREFIX}/step-up`, factor, { auth: true });
    saveTokens({ accessToken, refreshToken: readTokens().refreshToken });
    const waiting = stepUpWaiting;
    stepUpWaiting = null;
    dialog.close();
    waiting?.resolve();
  });
  form.querySelector('[data-cancel]').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    clearFactors(form);
    const waiting = stepUpWaiting;
    stepUpWaiting = null;
    waiting?.reject(new CancelledError());
  });
}

/** Opens the step-up dialog; resolves once a factor was proved, rejects with CancelledError. */
async function stepUp() {
  const dialog = $('#step-up');
  const status = await api('GET', `${PREFIX}/status`, undefined, { auth: true });
  showFactorChoices(dialog, status.authenticators);
  show($('#step-up-error'), false);
  return new Promise((resolve, reject) => {
    stepUpWaiting = { resolve, reject };
    dialog.showModal();
    const first = [...dialog.querySelectorAll('input, [data-use-key]')].find(
      (element) => !element.closest('[hidden]') && !element.hidden,
    );
    first?.focus();
  });
}

/**
 * Runs `call`; when the kit answers TWOFOLD_STEP_UP_REQUIRED (adding an authenticator while 2FA is
 * on needs a recent second factor), asks for one and runs `call` again.
 */
async function withStepUp(call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'TWOFOLD_STEP_UP_REQUIRED')) throw error;
  }
  await stepUp();
  return call();
}

/** "an authenticator app and 2 security keys or passkeys": what `counts` holds, in words. */
function describeCounts(counts) {
  const parts = [];
  if (counts.totp > 0)
    parts.push(counts.totp === 1 ? 'an authenticator app' : `${counts.totp} authenticator apps`);
  if (counts.webauthn > 0) {
    parts.push(
      counts.webauthn === 1 ? 'a security key or passkey' : `${counts.webauthn} security keys or passkeys`,
    );
  }
  return parts.join(' and ');
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
  // With the cookies: a remembered browser's cookie skips the second step.
  return api('POST', `${PREFIX}/login`, { username, password }, { cookies: true });
}

/**
 * A User-Agent header shortened for people: "Chrome 126 on Windows", "Safari 17 on iOS", "curl 8";
 * 'Unknown browser' without one.
 */
function describeAgent(userAgent) {
  if (!userAgent) return 'Unknown browser';
  // Most specific first: Edge and Opera also say Chrome; Chrome also says Safari.
  const browsers = [
    [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
    [/\b(?:OPR|Opera)\/(\d+)/, 'Opera'],
    [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
    [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
    [/\bHeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/\b(?:Chrome|CriOS|Chromium)\/(\d+)/, 'Chrome'],
    [/\bVersion\/(\d+)[\d.]*(?: Mobile\/\S+)? Safari\//, 'Safari'],
  ];
  // iPhones and iPads also say "like Mac OS X"; Android also says Linux.
  const systems = [
    [/\b(?:iPhone|iPod)\b/, 'iOS'],
    [/\biPad\b/, 'iPadOS'],
    [/\bAndroid\b/, 'Android'],
    [/\bCrOS\b/, 'ChromeOS'],
    [/\bWindows\b/, 'Windows'],
    [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
    [/\bLinux\b/, 'Linux'],
  ];
  const system = systems.find(([pattern]) => pattern.test(userAgent))?.[1];
  for (const [pattern, name] of browsers) {
    const match = pattern.exec(userAgent);
    if (match) return system ? `${name} ${match[1]} on ${system}` : `${name} ${match[1]}`;
  }
  // Not a browser (curl, a script): its first product and major version, kept short.
  const product = /^([^\s/]{1,32})(?:\/(\d+))?/.exec(userAgent);
  return product ? [product[1], product[2]].filter(Boolean).join(' ') : 'Unknown browser';
}

/** A client address as the server saw it; an IPv4 address in IPv6 form ("::ffff:…") as IPv4. */
function describeAddress(ip) {
  return ip ? ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '') : 'unknown';
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
        ? `Two-factor authentication is on; ${status.recoveryCodesRemaining} recovery codes left. You log in with ${describeCounts(status.authenticators)}.`
        : `Two-factor authentication is off. ${graceText(status)}`.trim();
      show($('#enable-link'), !status.enabled);
    } catch (error) {
      if (error instanceof SignedOutError) goToLogin();
      else if (error instanceof EnrollmentRequiredError) goToEnrollment();
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
    /** The WebAuthn request options bound to this login, when the account has a security key. */
    let keyOptions = null;
    let hasApp = true;
    /** 'code' (from the app), 'recovery' (a recovery code) or 'key' (only the security key). */
    let mode = 'code';
    const setMode = (next) => {
      mode = next;
      show($('#code-field'), mode === 'code');
      show($('#recovery-field'), mode === 'recovery');
      show($('#verify-submit'), mode !== 'key');
      show($('#use-recovery'), mode !== 'recovery');
      show($('#use-code'), mode === 'recovery' && hasApp);
    };
    const focusFactor = () => {
      if (mode === 'code') $('#code').focus();
      else if (mode === 'recovery') $('#recovery-code').focus();
      else if (!$('#use-key').hidden) $('#use-key').focus();
    };
    $('#use-recovery').addEventListener('click', () => {
      setMode('recovery');
      focusFactor();
    });
    $('#use-code').addEventListener('click', () => {
      setMode('code');
      focusFactor();
    });

    onSubmit($('#login-form'), $('#login-error'), async () => {
      const answer = await passwordStep($('#username').value, $('#password').value);
      if (!answer.twoFactorRequired) {
        saveTokens(answer);
        // Under a mandatory-2FA policy, past its grace: this session may only set 2FA up.
        location.assign(answer.enrollmentRequired ? '/enable.html?required=1' : '/');
        return;
      }
      challengeToken = answer.challengeToken;
      // What this account's second step can take: an app's code, a security key, a recovery code.
      // Without an answer, a code and a recovery code are offered (the kit refuses what does not fit).
      let options = { factors: ['totp', 'recoveryCode'], webauthn: null };
      try {
        options = await api('POST', `${PREFIX}/login/options`, { challengeToken });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_INVALID_CHALLENGE') throw error;
      }
      keyOptions = options.webauthn;
      hasApp = options.factors.includes('totp') || !keyOptions;
      const canUseKey = keyOptions !== null && webauthnSupported();
      show($('#key-field'), keyOptions !== null);
      show($('#use-key'), canUseKey);
      show($('#key-unsupported'), keyOptions !== null && !canUseKey);
      setMode(hasApp ? 'code' : canUseKey ? 'key' : 'recovery');
      show($('#login-form'), false);
      show($('#verify-form'));
      focusFactor();
    });

    /** The second step with `factor`; an expired or spent challenge goes back to the password. */
    const finish = async (factor) => {
      try {
        // "Remember this browser": the kit sets its cookie (HttpOnly) on this answer, so the cookies go.
        const remember = $('#remember-device').checked ? { rememberDevice: true } : {};
        saveTokens(
          await api(
            'POST',
            `${PREFIX}/login/verify`,
            { challengeToken, ...factor, ...remember },
            { cookies: true },
          ),
        );
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_INVALID_CHALLENGE') {
          // The challenge expired or ran out of attempts: start again from the password, saying why
          // above the password form (the second step's own message is hidden with it).
          challengeToken = null;
          keyOptions = null;
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
    };

    onSubmit($('#verify-form'), $('#verify-error'), () =>
      finish(mode === 'recovery' ? { recoveryCode: $('#recovery-code').value } : { code: $('#code').value }),
    );
    onClick($('#use-key'), $('#verify-form'), $('#verify-error'), async () => {
      await finish({ webauthn: await useKey(keyOptions) });
    });
  },

  enable() {
    if (!readTokens()) return goToLogin();
    // Sent here because the account must use 2FA (TWOFOLD_ENROLLMENT_REQUIRED): say so.
    show($('#required-notice'), new URLSearchParams(location.search).has('required'));
    setUpStepUp();
    codeActions($('#recovery-codes-section'));
    let authenticatorId = null;
    let name = '';

    onSubmit($('#start-form'), $('#start-error'), async () => {
      name = $('#app-name').value.trim();
      // With 2FA on already this adds another app, which needs a recent second factor.
      const enrollment = await withStepUp(() =>
        api('POST', `${PREFIX}/totp/enroll`, name ? { name } : {}, { auth: true }),
      );
      authenticatorId = enrollment.authenticatorId;
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
    });

    onSubmit($('#confirm-form'), $('#confirm-error'), async () => {
      const confirmed = await api(
        'POST',
        `${PREFIX}/totp/confirm`,
        { code: $('#code').value, ...(authenticatorId ? { authenticatorId } : {}) },
        { auth: true },
      );
      // Turning 2FA on signed out every session; this page goes on with the fresh tokens.
      if (confirmed.accessToken) saveTokens(confirmed);
      show($('#required-notice'), false);
      // The secret is no longer needed on the page.
      $('#qr').removeAttribute('src');
      $('#open-app').replaceChildren();
      $('#secret').textContent = '';
      show($('#enroll-scan'), false);
      if (confirmed.recoveryCodes) {
        // The first authenticator: 2FA is on, and these are the account's recovery codes.
        fillList($('#recovery-codes'), confirmed.recoveryCodes);
        show($('#recovery-codes-section'));
        $('#recovery-codes-title').focus();
      } else {
        $('#added-name').textContent = name || 'Authenticator app';
        show($('#app-added'));
      }
    });
  },

  async settings() {
    if (!readTokens()) return goToLogin();
    setUpStepUp();
    codeActions($('#new-codes-section'));
    codeActions($('#key-codes-section'));
    const keysWork = webauthnSupported();
    show($('#webauthn-unsupported'), !keysWork);
    $('#add-key').disabled = !keysWork;
    let authenticators = [];
    /** The authenticator the rename or remove form is about. */
    let selected = null;

    const notice = (text) => {
      $('#settings-notice').textContent = text;
      show($('#settings-notice'), text !== '');
    };
    const sessionsNotice = (text) => {
      $('#sessions-notice').textContent = text;
      show($('#sessions-notice'), text !== '');
    };
    const typeName = (entry) =>
      entry.type === 'totp' ? 'Authenticator app' : entry.passkey ? 'Passkey' : 'Security key';
    const closePanels = () => {
      show($('#rename-form'), false);
      show($('#remove-form'), false);
      clearFactors($('#remove-form'));
      selected = null;
    };

    const renderRows = () => {
      const rows = authenticators.map((entry) => {
        const row = document.createElement('tr');
        row.dataset.id = entry.id;
        const cell = (text) => {
          const td = document.createElement('td');
          td.textContent = text;
          return td;
        };
        const nameCell = cell(entry.name);
        nameCell.className = 'name';
        const actions = document.createElement('td');
        actions.className = 'row-actions';
        const button = (text, label, open) => {
          const element = document.createElement('button');
          element.type = 'button';
          element.className = 'link';
          element.textContent = text;
          element.setAttribute('aria-label', label);
          element.addEventListener('click', () => open(entry));
          return element;
        };
        actions.append(
          button('Rename', `Rename ${entry.name}`, openRename),
          button('Remove', `Remove ${entry.name}`, openRemove),
        );
        row.append(
          nameCell,
          cell(typeName(entry)),
          cell(formatTime(entry.createdAt)),
          cell(formatTime(entry.lastUsedAt)),
          actions,
        );
        return row;
      });
      $('#authenticator-rows').replaceChildren(...rows);
    };

    /** The sessions (GET /2fa/sessions): browser, address, started, last used; "Sign out" each. */
    const renderSessions = (sessions) => {
      const rows = sessions.map((entry) => {
        const row = document.createElement('tr');
        row.dataset.id = entry.id;
        if (entry.current) row.dataset.current = '';
        const cell = (text) => {
          const td = document.createElement('td');
          td.textContent = text;
          return td;
        };
        const device = describeAgent(entry.userAgent);
        const deviceCell = cell(device);
        deviceCell.className = 'name';
        // The whole User-Agent on hover (an attribute: text, never markup).
        if (entry.userAgent) deviceCell.title = entry.userAgent;
        if (entry.current) {
          const badge = document.createElement('strong');
          badge.className = 'badge';
          badge.textContent = 'this device';
          deviceCell.append(' ', badge);
        }
        const actions = document.createElement('td');
        actions.className = 'row-actions';
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.textContent = 'Sign out';
        button.setAttribute(
          'aria-label',
          entry.current
            ? 'Sign out this device'
            : `Sign out ${device} at ${describeAddress(entry.ip)}, last used ${formatTime(entry.lastUsedAt)}`,
        );
        onClick(button, $('#sessions-section'), $('#sessions-error'), () => revokeSession(entry, device));
        actions.append(button);
        row.append(
          deviceCell,
          cell(describeAddress(entry.ip)),
          cell(entry.createdAt ? formatTime(entry.createdAt) : 'unknown'),
          cell(formatTime(entry.lastUsedAt)),
          actions,
        );
        return row;
      });
      $('#session-rows').replaceChildren(...rows);
      $('#sessions-count').textContent =
        sessions.length === 1 ? 'You have 1 active session.' : `You have ${sessions.length} active sessions.`;
    };

    const loadSessions = async () => {
      const { sessions } = await api('GET', `${PREFIX}/sessions`, undefined, { auth: true });
      renderSessions(sessions);
      show($('#sessions-section'));
    };

    /** Signs out one session; this device's own is a logout (back to the login page). */
    const revokeSession = async (entry, device) => {
      sessionsNotice('');
      try {
        await api('POST', `${PREFIX}/sessions/${encodeURIComponent(entry.id)}/revoke`, undefined, {
          auth: true,
        });
      } catch (error) {
        // Ended already (logged out, expired, or signed out from another device): nothing to do.
        if (!(error instanceof ApiError && error.code === 'TWOFOLD_NOT_FOUND')) throw error;
      }
      if (entry.current) {
        // Its tokens no longer work: the same as logging out.
        goToLogin();
        return;
      }
      // The list first, then the notice: what the notice announces is on the page when it is read.
      await loadSessions();
      sessionsNotice(`${device} is signed out: it has to log in again.`);
    };

    const devicesNotice = (text) => {
      $('#devices-notice').textContent = text;
      show($('#devices-notice'), text !== '');
    };

    /** The remembered browsers (GET /2fa/devices): name, added, last used, until; "Forget" each. */
    const renderDevices = (devices) => {
      const rows = devices.map((entry) => {
        const row = document.createElement('tr');
        row.dataset.id = entry.id;
        const cell = (text) => {
          const td = document.createElement('td');
          td.textContent = text;
          return td;
        };
        const nameCell = cell(entry.name);
        nameCell.className = 'name';
        if (entry.userAgent) nameCell.title = entry.userAgent;
        const actions = document.createElement('td');
        actions.className = 'row-actions';
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.textContent = 'Forget';
        button.setAttribute('aria-label', `Forget ${entry.name}, added ${formatTime(entry.createdAt)}`);
        onClick(button, $('#devices-section'), $('#devices-error'), () => forgetDevice(entry));
        actions.append(button);
        row.append(
          nameCell,
          cell(formatTime(entry.createdAt)),
          cell(formatTime(entry.lastUsedAt)),
          cell(formatTime(entry.expiresAt)),
          actions,
        );
        return row;
      });
      $('#device-rows').replaceChildren(...rows);
      show($('#devices-empty'), devices.length === 0);
      show($('#devices'), devices.length > 0);
    };

    /** Lists the remembered browsers; the section stays hidden when the app does not remember any (404). */
    const loadDevices = async () => {
      let devices;
      try {
        ({ devices } = await api('GET', `${PREFIX}/devices`, undefined, { auth: true }));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          show($('#devices-section'), false);
          return;
        }
        throw error;
      }
      renderDevices(devices);
      show($('#devices-section'));
    };

    /** Forgets one remembered browser: its next login asks for the second step again. */
    const forgetDevice = async (entry) => {
      devicesNotice('');
      try {
        await api('POST', `${PREFIX}/devices/${encodeURIComponent(entry.id)}/revoke`, undefined, {
          auth: true,
        });
      } catch (error) {
        // Forgotten already, or expired: nothing to do.
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
      await loadDevices();
      devicesNotice(`${entry.name} is forgotten: it will be asked for the second step again.`);
    };

    const refresh = async () => {
      try {
        const [status, list] = await Promise.all([
          api('GET', `${PREFIX}/status`, undefined, { auth: true }),
          api('GET', `${PREFIX}/authenticators`, undefined, { auth: true }),
        ]);
        authenticators = list.authenticators;
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
        show($('#authenticators-section'), status.enabled);
        showFactorChoices(document, status.authenticators);
        renderRows();
        // A mandatory-2FA policy: the session may only set 2FA up (then the sessions are not
        // shown: listing them is refused), or the grace left before it must.
        const grace = graceText(status);
        $('#policy-notice').textContent = status.enrollmentRequired
          ? 'Your account must use two-factor authentication: add a security key, a passkey or an authenticator app below to continue.'
          : grace;
        show($('#policy-notice'), Boolean(status.enrollmentRequired) || grace !== '');
        // A delayed email recovery: 2FA goes off at dueAt unless cancelled (a second factor, or the
        // mailed link).
        $('#recovery-due').textContent = status.recoveryPending
          ? formatTime(status.recoveryPending.dueAt)
          : '';
        show($('#recovery-pending-notice'), Boolean(status.recoveryPending));
        show($('#sessions-section'), !status.enrollmentRequired);
        if (status.enrollmentRequired) return;
      } catch (error) {
        showError($('#status-error'), error);
        return;
      }
      try {
        await loadSessions();
      } catch (error) {
        showError($('#sessions-error'), error);
      }
      try {
        await loadDevices();
      } catch (error) {
        show($('#devices-section'));
        showError($('#devices-error'), error);
      }
    };

    function openRename(entry) {
      closePanels();
      selected = entry;
      $('#rename-title').textContent = `Rename “${entry.name}”`;
      $('#rename-name').value = entry.name;
      show($('#rename-error'), false);
      show($('#rename-form'));
      $('#rename-name').select();
      $('#rename-name').focus();
    }

    function openRemove(entry) {
      closePanels();
      selected = entry;
      $('#remove-title').textContent = `Remove “${entry.name}” (${typeName(entry).toLowerCase()})`;
      show($('#remove-last'), authenticators.length === 1);
      show($('#remove-error'), false);
      show($('#remove-form'));
      const first = [...$('#remove-form').querySelectorAll('input, [data-use-key]')].find(
        (element) => !element.closest('[hidden]') && !element.hidden,
      );
      first?.focus();
    }

    for (const form of [$('#rename-form'), $('#remove-form')]) {
      form.querySelector('[data-cancel]').addEventListener('click', closePanels);
    }

    onSubmit($('#rename-form'), $('#rename-error'), async () => {
      const renamed = await api(
        'POST',
        `${PREFIX}/authenticators/${encodeURIComponent(selected.id)}/rename`,
        { name: $('#rename-name').value.trim() },
        { auth: true },
      );
      closePanels();
      // The list first, then the notice: what the notice announces is on the page when it is read.
      await refresh();
      notice(`Renamed to “${renamed.name}”.`);
    });

    factorForm($('#remove-form'), $('#remove-error'), async (factor) => {
      const entry = selected;
      const fresh = await api(
        'POST',
        `${PREFIX}/authenticators/${encodeURIComponent(entry.id)}/remove`,
        factor,
        { auth: true },
      );
      closePanels();
      if (fresh?.accessToken) {
        // It was the last one: 2FA is off, every session was signed out; this one goes on.
        saveTokens(fresh);
        show($('#new-codes-section'), false);
        notice('');
        show($('#disabled-notice'));
      }
      await refresh();
      if (!fresh?.accessToken) notice(`“${entry.name}” is removed: it no longer logs you in.`);
    });

    onSubmit($('#add-key-form'), $('#add-key-error'), async () => {
      const name = $('#key-name').value.trim();
      let options;
      try {
        // With 2FA on already, adding a key needs a recent second factor.
        options = await withStepUp(() =>
          api('POST', `${PREFIX}/webauthn/register/options`, name ? { name } : {}, { auth: true }),
        );
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          throw new KeyError(
            'Security keys are not turned on on this server (see WEBAUTHN and PUBLIC_URL in its settings).',
          );
        }
        throw error;
      }
      const response = await createKey(options);
      const added = await withStepUp(() =>
        api('POST', `${PREFIX}/webauthn/register/verify`, { response }, { auth: true }),
      );
      $('#key-name').value = '';
      show($('#disabled-notice'), false);
      if (added.accessToken) saveTokens(added);
      if (added.recoveryCodes) {
        // The first authenticator: 2FA is on, and these are the account's recovery codes.
        notice('');
        fillList($('#key-recovery-codes'), added.recoveryCodes);
        $('#key-codes-section [data-codes-status]').textContent = '';
        show($('#key-codes-section'));
        await refresh();
        $('#key-codes-title').focus();
        return;
      }
      await refresh();
      notice(`${name ? `“${name}”` : 'The security key'} is added: it finishes a login from now on.`);
    });

    factorForm($('#rotate-form'), $('#rotate-error'), async (factor) => {
      const { recoveryCodes } = await api('POST', `${PREFIX}/recovery-codes/rotate`, factor, {
        auth: true,
      });
      clearFactors($('#rotate-form'));
      fillList($('#new-recovery-codes'), recoveryCodes);
      $('#new-codes-section [data-codes-status]').textContent = '';
      show($('#new-codes-section'));
      await refresh();
    });

    factorForm($('#disable-form'), $('#disable-error'), async (factor) => {
      const fresh = await api('POST', `${PREFIX}/totp/disable`, factor, { auth: true });
      // Turning 2FA off signed out every session; this page goes on with the fresh tokens.
      if (fresh?.accessToken) saveTokens(fresh);
      clearFactors($('#disable-form'));
      closePanels();
      notice('');
      show($('#new-codes-section'), false);
      show($('#key-codes-section'), false);
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
    // The link is /recover.html#uid=...&token=... (the recovery mail), or #uid=...&cancel=... (the
    // mail of a delayed recovery: cancel it). A fragment never reaches a server or its logs. Take it
    // off the address bar (and history) at once; keep it in memory for the form. A new link opened in
    // the same tab only changes the hash: it replaces the one in memory.
    const titles = {
      recover: 'Turn off two-factor authentication',
      cancel: 'Cancel turning off two-factor authentication',
    };
    let uid = null;
    let token = null;
    let cancel = null;
    const readLink = (initial) => {
      const fragment = new URLSearchParams(location.hash.slice(1));
      if (!initial && location.hash === '') return;
      history.replaceState(null, '', location.pathname);
      uid = fragment.get('uid');
      token = fragment.get('token');
      cancel = fragment.get('cancel');
      const mode = !uid ? null : cancel ? 'cancel' : token ? 'recover' : null;
      $('#recover-title').textContent = titles[mode ?? 'recover'];
      document.title = `${titles[mode ?? 'recover']} · twofold example`;
      $('#password').value = '';
      for (const element of [
        '#recover-error',
        '#recover-done',
        '#recover-scheduled',
        '#cancel-error',
        '#cancel-done',
      ]) {
        show($(element), false);
      }
      show($('#link-error'), mode === null);
      show($('#recover-form'), mode === 'recover');
      show($('#cancel-form'), mode === 'cancel');
    };
    readLink(true);
    addEventListener('hashchange', () => readLink(false));
    onSubmit($('#recover-form'), $('#recover-error'), async () => {
      let answer;
      try {
        answer = await api('POST', `${PREFIX}/recovery/confirm`, {
          uid,
          token,
          password: $('#password').value,
        });
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
      $('#password').value = '';
      show($('#recover-form'), false);
      if (answer?.dueAt) {
        // 202: the server delays the removal (its RECOVERY_DELAY); nothing is signed out yet, and
        // the cancel link is on its way to the account's address.
        $('#recover-due').textContent = formatTime(answer.dueAt);
        show($('#recover-scheduled'));
        return;
      }
      // 204: 2FA is off, and every session of the account was signed out, this one too.
      clearTokens();
      updateNav();
      show($('#recover-done'));
    });
    onSubmit($('#cancel-form'), $('#cancel-error'), async () => {
      try {
        await api('POST', `${PREFIX}/recovery/cancel`, { uid, token: cancel });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'TWOFOLD_INVALID_RECOVERY_TOKEN') {
          // Nothing scheduled (cancelled already, or by a login with a second factor), carried out,
          // or a made-up link.
          showErrorWithLink(
            $('#cancel-error'),
            'This cancel link no longer works: the removal was already cancelled or carried out. To see whether two-factor authentication is on,',
            '/login.html',
            'log in',
          );
          return;
        }
        throw error;
      }
      show($('#cancel-form'), false);
      show($('#cancel-done'));
    });
  },
};

renderHeader();
updateNav();
$('#logout')?.addEventListener('click', logout);
pages[document.body.dataset.page]?.();
