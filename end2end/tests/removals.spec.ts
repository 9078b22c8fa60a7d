import { test, expect, Page } from '@playwright/test';
import { hydrated, login } from './helpers';

const API = '/api/admin/integracoes/sgp/importacoes';
const SETTINGS = '/api/admin/integracoes/sgp';
// the demo's customers with the last five gone (playwright.config.ts)
const SMALLER_SGP = `http://127.0.0.1:${Number(process.env.E2E_FAKE_PORT ?? Number(process.env.E2E_PORT ?? 3017) + 1)}`;
const TOKEN = 'd3m0-t0k3n-5gp-1mp0rt';

async function importAll(page: Page, name: string): Promise<any> {
  const started = await page.request.post(API, { data: { nome_importacao: name } });
  expect(started.status()).toBe(201);
  const id = (await started.json()).data.id;
  let details: any;
  await expect.poll(async () => {
    details = (await (await page.request.get(`${API}/${id}`)).json()).data;
    return details.status;
  }, { timeout: 60_000 }).toBe('completed');
  return details;
}

test('customers that left SGP are marked, shown with a badge, filtered and in their history', async ({ page }) => {
  await login(page, '/clientes');
  const demo = (await (await page.request.get(SETTINGS)).json()).data;
  const point = async (url: string) => {
    const saved = await page.request.put(SETTINGS, {
      data: { base_url: url, auth_mode: 'token', app: demo.app, token: TOKEN },
    });
    expect(saved.status()).toBe(200);
  };
  await importAll(page, 'Antes das saídas');
  let removed: any;
  try {
    await point(SMALLER_SGP);
    removed = await importAll(page, 'Cinco saíram');
  } finally {
    await point(demo.base_url);
  }
  expect(removed.resultado.removidos).toBe(5);

  // the customers page: the filter, the badge, the history
  await page.goto('/clientes');
  await hydrated(page);
  await page.getByLabel('No SGP').selectOption('removido');
  await page.getByRole('button', { name: 'Buscar' }).click();
  await expect(page).toHaveURL(/situacao=removido/);
  await expect(page.getByTestId('total-clientes')).toHaveText('5 clientes');
  const first = page.locator('.customer').first();
  await expect(first.locator('summary .badge-removed')).toHaveText(/^Removido do SGP em \d\d\/\d\d\/\d{4}$/);
  await first.locator('summary').click();
  await first.getByRole('button', { name: 'Histórico' }).click();
  await expect(first.locator('table.changes tbody tr[data-tipo="cliente_removido"]')).toHaveCount(1);
  await expect(first.locator('table.changes tbody tr[data-tipo="cliente_criado"]')).toHaveCount(1);
  await page.screenshot({ path: 'screenshots/clientes-removidos.png', fullPage: true });

  // and the import's "O que mudou" says so
  await page.goto(`/dashboard/importacoes/${removed.id}`);
  await hydrated(page);
  const dialog = page.getByRole('dialog', { name: 'Detalhes da importação' });
  await dialog.getByRole('tab', { name: 'O que mudou' }).click();
  await expect(dialog.getByTestId('resumo-alteracoes')).toContainText('5 clientes removidos do SGP');
  await expect(dialog.locator('.chip[data-tipo="cliente_removido"]')).toContainText('(5)');
});
