// A refused TLS connection in words an operator can act on, from the messages grpc-js gives
// (each captured from a real refusal: a grpc-js server over TLS 1.3, `openssl s_server -tls1_2
// -Verify 1`, and Go's TLS 1.2 alert).
import { expect } from 'chai';
import { explainConnectionFailure } from '../../src/security/tls-failure.js';

const wrapped = (openssl: string) => `No connection established. Last error: ${openssl} (2026-12-05T20:07:41.210Z). Resolution note: `;
const TLS13_CERTIFICATE_REQUIRED = wrapped(
  '807CF1C1C77F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116\n',
);
const TLS12_HANDSHAKE_FAILURE = wrapped(
  'Error: 808C89C4077F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 40',
);
const TLS12_BAD_CERTIFICATE = wrapped(
  'Error: 808C89C4077F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42',
);
const MISSING = 'the server asked for a client certificate (mutual TLS) and none is configured';

describe('a refused TLS connection, explained', () => {
  it('names a client certificate the server asked for and the service does not configure, keeping the original words', () => {
    const explained = explainConnectionFailure(TLS13_CERTIFICATE_REQUIRED, { caFile: 'ca.pem' }, 'orders');
    expect(explained).to.equal(`${MISSING}: set services.orders.tls.certFile/keyFile (${TLS13_CERTIFICATE_REQUIRED})`);
    const go = explainConnectionFailure(TLS12_BAD_CERTIFICATE, { caFile: 'ca.pem' });
    expect(go).to.equal(`${MISSING}: set tls.certFile/keyFile in the service's config (${TLS12_BAD_CERTIFICATE})`);
  });

  it('says a TLS 1.2 handshake failure only may be that, as it is also a cipher or version mismatch', () => {
    expect(explainConnectionFailure(TLS12_HANDSHAKE_FAILURE, { caFile: 'ca.pem' }, 'orders')).to.match(
      /^the server refused the TLS handshake; if it requires a client certificate \(mutual TLS over TLS 1\.2\), none is configured: set services\.orders\.tls\.certFile\/keyFile \(/,
    );
  });

  it('leaves every other failure as it is: a certificate configured, no TLS, another error', () => {
    expect(explainConnectionFailure(TLS13_CERTIFICATE_REQUIRED, { caFile: 'ca.pem', certFile: 'c.pem' }, 'orders')).to.equal(
      TLS13_CERTIFICATE_REQUIRED,
    );
    expect(explainConnectionFailure(TLS13_CERTIFICATE_REQUIRED, undefined, 'orders')).to.equal(TLS13_CERTIFICATE_REQUIRED);
    const refused = wrapped('Error: connect ECONNREFUSED 127.0.0.1:1');
    expect(explainConnectionFailure(refused, { caFile: 'ca.pem' }, 'orders')).to.equal(refused);
    // A connection closed before its error arrived: nothing tells a refusal apart.
    expect(explainConnectionFailure('Failed to connect (2026-12-05T20:07:41.210Z)', { caFile: 'ca.pem' })).to.equal(
      'Failed to connect (2026-12-05T20:07:41.210Z)',
    );
  });
});
