import { secretStoreContract } from '../contract/secretStore.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';

secretStoreContract('in-memory fake', async () => {
  const store = new MemoryStore('p/');
  return {
    store,
    addForeign: async (c, v) => store.addForeign(c, v),
    currentRaw: async (c) => store.history(c).at(-1),
    previousRaw: async (c) => store.history(c).at(-2),
    versionCount: async (c) => store.history(c).length,
  };
});
