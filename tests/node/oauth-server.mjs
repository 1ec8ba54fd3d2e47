// An OAuth 2.0 / OpenID provider and a resource server for Switchyard's
// end-to-end tests, on 127.0.0.1 only.
//
// Provider: oauth2-mock-server (from npm), made strict where the tests need
// it to be: only the registered client (HTTP Basic), codes are single-use
// and bound to their redirect URI, PKCE is checked by the mock itself,
// refresh tokens are rotated and must be ones it issued, access tokens live
// --token-ttl seconds. POST /admin/revoke on the API port forgets every
// refresh token (a customer revoking the app's access).
//
// Resource server: GET /api/sites?cursor=&limit= with a bearer JWT verified
// against the provider's keys (issuer, signature, expiry); 401 otherwise.
// GET /admin/stats counts requests; GET /admin/issued lists the tokens given.
//
// Prints one line: `ready {"issuer": "...", "api": "..."}`.

import { OAuth2Server } from 'oauth2-mock-server';
import { createLocalJWKSet, jwtVerify } from 'jose';
import http from 'node:http';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const clientId = args['client-id'] ?? 'switchyard';
const clientSecret = args['client-secret'] ?? 'client-secret';
const tokenTtl = Number(args['token-ttl'] ?? 3600);
const siteCount = Number(args['sites'] ?? 25);

const stats = { authorize: 0, token: {}, token_rejected: 0, api: 0, api_unauthorized: 0 };
const codes = new Map(); // code → redirect_uri
const refreshTokens = new Set();
// Every token handed out (capped), for the test that greps the host's disk.
const issued = [];

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  stats.authorize += 1;
  const code = redirect.url.searchParams.get('code');
  if (req.query.client_id !== clientId) {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', 'unauthorized_client');
    return;
  }
  if (code) codes.set(code, req.query.redirect_uri);
});

server.service.on('beforeTokenSigning', (token) => {
  token.payload.exp = token.payload.iat + tokenTtl;
});

function reject(response, status, error) {
  stats.token_rejected += 1;
  response.statusCode = status;
  response.body = { error };
}

server.service.on('beforeResponse', (response, req) => {
  const grant = req.body.grant_type;
  stats.token[grant] = (stats.token[grant] ?? 0) + 1;
  const basic = (req.headers.authorization ?? '').replace(/^Basic /, '');
  const [id, secret] = Buffer.from(basic, 'base64').toString().split(':');
  if (id !== clientId || secret !== clientSecret) return reject(response, 401, 'invalid_client');
  if (grant === 'authorization_code') {
    const redirectUri = codes.get(req.body.code);
    codes.delete(req.body.code);
    if (redirectUri === undefined || redirectUri !== req.body.redirect_uri) {
      return reject(response, 400, 'invalid_grant');
    }
  } else if (grant === 'refresh_token') {
    if (!refreshTokens.delete(req.body.refresh_token)) return reject(response, 400, 'invalid_grant');
  } else {
    return reject(response, 400, 'unsupported_grant_type');
  }
  response.body.expires_in = tokenTtl;
  if (response.body.refresh_token) refreshTokens.add(response.body.refresh_token);
  if (issued.length < 1000) issued.push(response.body.access_token, response.body.refresh_token);
});

await server.start(0, '127.0.0.1');
// The mock names itself `localhost`; the tests reach it by address.
server.issuer.url = `http://127.0.0.1:${new URL(server.issuer.url).port}`;
const issuer = server.issuer.url;

const sites = Array.from({ length: siteCount }, (_, i) => ({
  id: `SITE-${String(i + 1).padStart(4, '0')}`,
  name: `Plant ${i + 1}`,
  updated_at: new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString(),
}));

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const api = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/admin/stats') return send(res, 200, stats);
  if (url.pathname === '/admin/issued') return send(res, 200, { tokens: issued.filter(Boolean) });
  if (url.pathname === '/admin/revoke' && req.method === 'POST') {
    const revoked = refreshTokens.size;
    refreshTokens.clear();
    return send(res, 200, { revoked });
  }
  if (url.pathname !== '/api/sites') return send(res, 404, { error: 'not_found' });
  stats.api += 1;
  const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  try {
    const keys = createLocalJWKSet({ keys: server.issuer.keys.toJSON() });
    await jwtVerify(token, keys, { issuer });
  } catch {
    stats.api_unauthorized += 1;
    return send(res, 401, { error: 'invalid_token' });
  }
  const offset = Math.max(0, Number.parseInt(url.searchParams.get('cursor') || '0', 10) || 0);
  const limit = Math.min(100, Math.max(1, Number.parseInt(url.searchParams.get('limit') || '10', 10) || 10));
  const data = sites.slice(offset, offset + limit);
  send(res, 200, {
    data,
    next_cursor: String(offset + data.length),
    has_more: offset + data.length < sites.length,
  });
});
api.listen(0, '127.0.0.1', () => {
  const apiUrl = `http://127.0.0.1:${api.address().port}`;
  console.log(`ready ${JSON.stringify({ issuer, api: apiUrl })}`);
});

process.on('SIGTERM', async () => {
  api.close();
  await server.stop();
  process.exit(0);
});
