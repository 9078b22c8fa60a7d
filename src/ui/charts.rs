//! The dashboard's charts of the last 30 days. The SVG is drawn on the
//! server (`server::charts`); the page only places it.

use leptos::prelude::*;

use crate::api::imports::import_charts;
use crate::ui::common::Loaded;

/// Imports per day by outcome, and customers new, removed and back per
/// day; fetched again when `version` moves (an import ended), not on
/// every refresh of the list.
#[component]
pub fn ImportCharts(version: RwSignal<u32>) -> impl IntoView {
    let charts = super::resource::resource(move || version.get(), |_| import_charts());
    view! {
        <section class="charts" aria-labelledby="graficos">
            <h2 id="graficos">"Últimos 30 dias"</h2>
            <Loaded resource=charts let:c>
                {
                    let [imports, customers] = c;
                    view! {
                        <div class="chart-grid-2">
                            <div class="chart-box" inner_html=imports></div>
                            <div class="chart-box" inner_html=customers></div>
                        </div>
                    }
                }
            </Loaded>
        </section>
    }
}
