// make bench's peer: panva's oidc-provider (pinned in package-lock.json) issuing one signed
// JWT access token per client_credentials request, the way bench/run.py measures ours.
//
//   node server.mjs CONFIG.json
//
// CONFIG (written by bench/run.py):
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "workers": 1 | 2,
//    "algorithm": "RS256" | "ES256", "resource": "urn:...", "scope": "...",
//    "secret_client": {"client_id": "...", "client_secret": "..."},
//    "jwt_client": {"client_id": "...", "jwks": {"keys": [public RS256 JWK]}}}
//
// workers 1: this one process serves; workers 2: node:cluster, the primary forks two
// workers that share the port (the primary hands them the connections). The signing key is
// generated once by the first process (RS256: RSA 2048; ES256: P-256) and given to the
// workers, so every worker signs with the one key the JWKS publishes. Client assertions'
// jti are remembered by the default in-memory adapter (per process): the bench never
// presents one twice. Prints "peer: listening" once every worker listens.
import cluster from 'node:cluster';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function signingJwk(algorithm) {
  const { privateKey } = algorithm === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg: algorithm, use: 'sig', kid: randomUUID() };
}

function serve(jwk) {
  const { algorithm, resource, scope } = config;
  const provider = new Provider(config.issuer, {
    clients: [
      {
        client_id: config.secret_client.client_id,
        client_secret: config.secret_client.client_secret,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope,
      },
      {
        client_id: config.jwt_client.client_id,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'RS256',
        jwks: config.jwt_client.jwks,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope,
      },
    ],
    jwks: { keys: [jwk] },
    scopes: [scope],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A request without `resource` gets the one resource server: a JWT access token.
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope,
            audience: resource,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: algorithm } },
          };
        },
      },
    },
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256'],
      idTokenSigningAlgValues: [algorithm],
    },
  });
  provider.on('server_error', (ctx, error) => console.error('peer: server_error', error));
  const server = http.createServer(provider.callback());
  server.listen(config.port, '127.0.0.1', () => {
    console.log(cluster.isWorker ? `peer: worker ${process.pid} listens` : 'peer: listening');
  });
}

if (config.workers > 1 && cluster.isPrimary) {
  const jwk = JSON.stringify(signingJwk(config.algorithm));
  console.log(`peer: primary ${process.pid} forks ${config.workers} workers`);
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === config.workers) {
      console.log('peer: listening');
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    console.error(`peer: worker ${worker.process.pid} exited (${signal || code})`);
    process.exit(1);
  });
  for (let n = 0; n < config.workers; n += 1) {
    cluster.fork({ PEER_SIGNING_JWK: jwk });
  }
  process.on('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const worker of Object.values(cluster.workers)) {
      worker.process.kill('SIGTERM');
    }
    process.exit(0);
  });
} else {
  serve(process.env.PEER_SIGNING_JWK
    ? JSON.parse(process.env.PEER_SIGNING_JWK)
    : signingJwk(config.algorithm));
}
