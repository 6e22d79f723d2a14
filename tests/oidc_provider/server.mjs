// A real OpenID Connect provider for the relying-party tests (SPEC §9): panva's
// oidc-provider (certified by the OpenID Foundation), which nobody here wrote, pinned by
// package-lock.json. Started by tests/oidc_provider.py as
//     node server.mjs CONFIG.json
// CONFIG: {issuer, port, cert, key (PEM file paths), jwks ({keys: [private JWKs]}),
//          cookieKeys, published_jwks_uri (optional, see below)}
//
// Only test conveniences are added around the provider, none of its protocol changed:
// - the login and consent interaction signs in the account named by the authorization
//   request's `login_hint` (an account id or its email) with no page, and grants what was
//   asked; an unknown hint ends the request with `access_denied`;
// - `PUT /_test/accounts/{id}` (JSON claims) adds or replaces an account;
// - clients register themselves through the provider's own dynamic registration (RFC 7591,
//   `POST /reg`);
// - `published_jwks_uri` makes the discovery document name ANOTHER key set than the one
//   this provider signs with: an impostor whose id_tokens no published key verifies.
import fs from 'node:fs';
import https from 'node:https';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = new Map(Object.entries(config.accounts || {}));

function findByHint(hint) {
  if (!hint) return undefined;
  if (accounts.has(hint)) return hint;
  for (const [id, claims] of accounts) {
    if (claims.email && claims.email.toLowerCase() === hint.toLowerCase()) return id;
  }
  return undefined;
}

const provider = new Provider(config.issuer, {
  jwks: config.jwks,
  cookies: { keys: config.cookieKeys },
  async findAccount(ctx, id) {
    const claims = accounts.get(id);
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'oid'],
  },
  // Scope claims in the id_token itself (what Entra ID, Google and Okta do), not only at
  // userinfo: the relying party reads the id_token.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

if (config.published_jwks_uri) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
      ctx.body = { ...ctx.body, jwks_uri: config.published_jwks_uri };
    }
  });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const accountId = findByHint(details.params.login_hint);
    const result = accountId
      ? { login: { accountId } }
      : { error: 'access_denied', error_description: 'no such test account' };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({
    accountId: details.session.accountId,
    clientId: details.params.client_id,
  });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function putAccount(req, res, id) {
  let body = '';
  for await (const chunk of req) body += chunk;
  accounts.set(id, JSON.parse(body));
  res.writeHead(204).end();
}

const callback = provider.callback();
const server = https.createServer(
  { cert: fs.readFileSync(config.cert), key: fs.readFileSync(config.key) },
  (req, res) => {
    const url = new URL(req.url, config.issuer);
    const account = url.pathname.match(/^\/_test\/accounts\/([^/]+)$/);
    let handled;
    if (req.method === 'PUT' && account) {
      handled = putAccount(req, res, decodeURIComponent(account[1]));
    } else if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
      handled = interaction(req, res);
    } else {
      callback(req, res);
      return;
    }
    handled.catch((error) => {
      res.writeHead(error instanceof errors.OIDCProviderError ? error.statusCode : 500);
      res.end(String(error));
    });
  },
);
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${config.port}\n`);
});
