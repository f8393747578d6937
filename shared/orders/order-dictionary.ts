/**
 * The preset dictionary of the `deflate-dict-v1` order encoding (shared/orders/stored-order.ts).
 *
 * Deflate finds repeats only inside the data it compresses; one order is ~2 KB, too little for its
 * field names to repeat much. A preset dictionary gives it those strings up front: field names of the
 * TikTok Shop order object (API version 202309, TIKTOK_API.md "Order object") and its common enum
 * values, written as JSON fragments in the shape an order has. No order's data is in it.
 *
 * FROZEN: every item written with this encoding needs these exact bytes to be read back. Never edit
 * this string; a better dictionary is a new encoding (a new tag byte) beside this one, and the reader
 * keeps both. test/unit/stored-order.test.ts pins its SHA-256.
 */
export const ORDER_DICTIONARY_V1 =
  '{"id":"","status":"UNPAID","status":"ON_HOLD","status":"PARTIALLY_SHIPPING","status":"COMPLETED",' +
  '"cancel_order_sla_time":,"rts_sla_time":,"tts_sla_time":,"shipping_due_time":,"collection_due_time":,' +
  '"delivery_due_time":,"fast_dispatch_sla_time":,"request_cancel_time":,"has_updated_recipient_address":false,' +
  '"is_buyer_request_cancel":false,"is_exchange_order":false,"split_or_combine_tag":"","shipping_provider_id":"",' +
  '"delivery_option_id":"","delivery_option_required_delivery_time":,"cpf":"","buyer_uid":"","need_upload_invoice":"",' +
  '"combined_listing_skus":[],"sku_image":"","cancel_user":"","rts_time":,"item_tax":[],"small_order_fee":"0.00",' +
  '"retail_delivery_fee":"0.00","buyer_service_fee":"0.00","handling_fee":"0.00","shipping_insurance_fee":"0.00",' +
  '"item_insurance_fee":"0.00","shipping_fee_seller_discount":"0.00","shipping_fee_platform_discount":"0.00",' +
  '"shipping_fee_cofunded_discount":"0.00","product_tax":"0.00","shipping_fee_tax":"0.00",' +
  '"handling_duration_days":"","is_dangerous_good":false,"needs_prescription":false,"address_detail":"",' +
  '"address_line3":"","address_line4":"","first_name_local_script":"","last_name_local_script":"",' +
  '"delivery_preferences":{"drop_off_location":""},"CANCELLED","IN_TRANSIT","DELIVERED","AWAITING_COLLECTION",' +
  '"TO_FULFILL","PROCESSING","FULFILLMENT_BY_TIKTOK","SEND_BY_SELLER","PICKUP","DROP_OFF","SELLER","BUYER",' +
  '"SYSTEM","Cash on delivery","PayPal","Apple Pay","Google Pay","Express shipping","Economy shipping","GBP",' +
  '"CA","GB",' +
  '{"id":"","status":"AWAITING_SHIPMENT","create_time":,"update_time":,"user_id":"","buyer_email":"",' +
  '"buyer_message":"","payment":{"currency":"USD","sub_total":"0.00","shipping_fee":"0.00",' +
  '"seller_discount":"0.00","platform_discount":"0.00","tax":"0.00","total_amount":"0.00",' +
  '"original_total_product_price":"0.00","original_shipping_fee":"0.00"},"line_items":[],' +
  '"recipient_address":{"name":"","first_name":"","last_name":"","phone_number":"(+1)","address_line1":"",' +
  '"address_line2":"","postal_code":"","region_code":"US","full_address":"","district_info":[' +
  '{"address_level_name":"Country","address_name":"US","address_level":"L0"},' +
  '{"address_level_name":"State","address_name":"","address_level":"L1"},' +
  '{"address_level_name":"City","address_name":"","address_level":"L2"}]},"packages":[{"id":""}],' +
  '"shipping_provider":"USPS","tracking_number":"9400","fulfillment_type":"FULFILLMENT_BY_SELLER",' +
  '"delivery_type":"HOME_DELIVERY","shipping_type":"TIKTOK","delivery_option_name":"Standard shipping",' +
  '"payment_method_name":"Credit card","warehouse_id":"","is_cod":false,"is_on_hold_order":false,' +
  '"is_sample_order":false,"is_replacement_order":false,"cancel_reason":"","cancellation_initiator":"",' +
  '"seller_note":"","commerce_platform":"TIKTOK_SHOP","order_type":"NORMAL","paid_time":,"rts_time":,' +
  '"collection_time":,"delivery_time":,"cancel_time":}' +
  '[{"id":"","product_id":"","product_name":"","sku_id":"","sku_name":"","seller_sku":"","sku_type":"NORMAL",' +
  '"original_price":"0.00","sale_price":"0.00","platform_discount":"0.00","seller_discount":"0.00",' +
  '"currency":"USD","display_status":"AWAITING_SHIPMENT","package_id":"","package_status":"TO_FULFILL",' +
  '"tracking_number":"","shipping_provider_name":"","is_gift":false,"cancel_reason":""},' +
  '{"id":"","product_id":"","product_name":"","sku_id":"","sku_name":"","seller_sku":"","sku_type":"NORMAL",' +
  '"original_price":"0.00","sale_price":"0.00","platform_discount":"0.00","seller_discount":"0.00",' +
  '"currency":"USD","display_status":"IN_TRANSIT","package_id":"","package_status":"PROCESSING",' +
  '"tracking_number":"","shipping_provider_name":"","is_gift":false,"cancel_reason":""}]';
