/** The loopback network of every pod. `name` is required by the CNI spec (upstream left it out). */
export default {
  cniVersion: '0.3.0',
  name: 'lo',
  type: 'loopback',
};
