// Starts s3rver (an S3 implementation in Node.js that verifies SigV4 signatures) on a
// random port of 127.0.0.1, storing into the directory given as the first argument, with
// a bucket named by the second. Prints one line: "listening on http://127.0.0.1:PORT".
// Credentials are s3rver's built-in test pair: S3RVER / S3RVER.
const S3rver = require('@20minutes/s3rver');

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});
server.run().then(({ address, port }) => console.log(`listening on http://${address}:${port}`));
