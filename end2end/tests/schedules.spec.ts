import { test, expect } from '@playwright/test';
import { login } from './helpers';

// Runs after imports.spec.ts (files run in name order): it leaves the
// schedule off, so nothing starts by itself during the other tests.

test('an automatic sync is set with a preset or cron, shows its next run, and refuses a bad one', async ({ page }) => {
  await login(page, '/integracoes');
  const card = page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'Sincronização automática' }) });
  await expect(card.getByText('Sincronização automática desligada.')).toBeVisible();

  // every day at 03:30, Brasília time
  await card.getByLabel('Ativar a sincronização automática').check();
  await card.getByLabel('Diariamente às').check();
  await card.getByLabel('Horário').fill('03:30');
  await card.getByLabel('Somente contratos ativos').check();
  await card.getByRole('button', { name: 'Salvar sincronização' }).click();
  await expect(card.getByRole('status').filter({ hasText: 'Sincronização salva.' })).toBeVisible();
  await expect(card.getByTestId('proxima-execucao')).toHaveText(/^Próxima execução: \d{2}\/\d{2}\/\d{4} 03:30$/);
  await page.screenshot({ path: 'screenshots/sincronizacao.png', fullPage: true });

  // a cron expression that runs too often is refused next to the field
  await card.getByLabel('Personalizado (cron)').check();
  await card.getByLabel('Expressão cron').fill('*/5 * * * *');
  await card.getByRole('button', { name: 'Salvar sincronização' }).click();
  await expect(card.locator('#cron-erro')).toContainText('intervalo mínimo');
  await card.getByLabel('Expressão cron').fill('0 2 * *');
  await card.getByRole('button', { name: 'Salvar sincronização' }).click();
  await expect(card.locator('#cron-erro')).toContainText('tem 4 campos em vez de 5');

  // every six hours: the next run is on one of the day's four slots
  await card.getByLabel('A cada N horas').check();
  await card.getByLabel('Intervalo').selectOption('6');
  await card.getByRole('button', { name: 'Salvar sincronização' }).click();
  await expect(card.getByTestId('proxima-execucao')).toHaveText(/ (00|06|12|18):00$/);

  // after a reload the form shows the preset it was saved with
  await page.reload();
  await expect(card.getByLabel('A cada N horas')).toBeChecked();
  await expect(card.getByLabel('Intervalo')).toHaveValue('6');
  await expect(card.getByLabel('Somente contratos ativos')).toBeChecked();

  // the REST API sees the same schedule
  const api = await (await page.request.get('/api/admin/integracoes/sgp/agendamento')).json();
  expect(api.data.cron).toBe('0 */6 * * *');
  expect(api.data.apenas_ativos).toBe(true);

  // off again
  await card.getByLabel('Ativar a sincronização automática').uncheck();
  await card.getByRole('button', { name: 'Salvar sincronização' }).click();
  await expect(card.getByText('Sincronização automática desligada.')).toBeVisible();
});

test('the history says where each import came from and filters by it', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  const filter = page.getByRole('navigation', { name: 'Origem das importações' });
  await filter.getByRole('link', { name: 'API' }).click();
  await expect(page).toHaveURL(/origem=api/);
  // the imports the earlier tests queued through the REST API
  const rows = page.locator('table.history tbody tr');
  await expect(rows.first()).toBeVisible();
  for (const cell of await rows.locator('td:nth-child(3)').allTextContents()) {
    expect(cell).toBe('API');
  }
  await filter.getByRole('link', { name: 'Agendada' }).click();
  await expect(page).toHaveURL(/origem=agendada/);
  await expect(page.getByText('Nenhuma importação nesta aba.')).toBeVisible();
  await filter.getByRole('link', { name: 'Todas as origens' }).click();
  await expect(page).not.toHaveURL(/origem=/);
});
