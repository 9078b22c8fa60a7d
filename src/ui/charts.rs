//! The dashboard's charts of the last 30 days. The SVG is drawn on the
//! server (`server::charts`) and comes with the dashboard's data; the page
//! only places it.

use leptos::prelude::*;

/// Imports per day by outcome, and customers new, removed and back per day.
#[component]
pub fn ImportCharts(charts: [String; 2]) -> impl IntoView {
    let [imports, customers] = charts;
    view! {
        <section class="charts" aria-labelledby="graficos">
            <h2 id="graficos">"Últimos 30 dias"</h2>
            <div class="chart-grid-2">
                <div class="chart-box" inner_html=imports></div>
                <div class="chart-box" inner_html=customers></div>
            </div>
        </section>
    }
}
