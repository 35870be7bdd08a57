import { secretStoreContract } from '../contract/secretStore.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { CLUSTER_KEY } from '../../lib/stores/types.ts';

secretStoreContract('in-memory fake', async () => {
  const store = new MemoryStore('p/');
  return {
    store,
    addForeign: async (c, v) => store.addForeign(c, v),
    addMarked: async (c, v, m) => {
      store.addForeign(c, v, { [m.key]: m.value, [CLUSTER_KEY]: c });
      return 'created';
    },
    currentRaw: async (c) => store.history(c).at(-1),
    previousRaw: async (c) => store.history(c).at(-2),
    versionCount: async (c) => store.history(c).length,
  };
});
